package api

import (
	"net/http"
)

// encodeFailureBody is the answer sent instead of a body that could not be encoded.
const encodeFailureBody = `{"error":{"code":"internal_error","message":"internal server error: the answer could not be encoded"}}` + "\n"

// encodeFailureNoter is a response writer layer that wants to know when writeJSON could not encode
// an answer: statusWriter logs it, txWriter makes inTenant roll its transaction back.
type encodeFailureNoter interface {
	noteEncodeFailure(err error)
}

// noteEncodeFailure tells every layer of w that wants to know (encodeFailureNoter) that err kept
// an answer from being encoded.
func noteEncodeFailure(w http.ResponseWriter, err error) {
	for w != nil {
		if n, ok := w.(encodeFailureNoter); ok {
			n.noteEncodeFailure(err)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// noteEncodeFailure keeps the first encoding failure for the request log.
func (w *statusWriter) noteEncodeFailure(err error) {
	if w.encodeErr == nil {
		w.encodeErr = err
	}
}

// noteEncodeFailure keeps the first encoding failure of the held-back answer.
func (w *txWriter) noteEncodeFailure(err error) {
	if w.buffering && w.encodeErr == nil {
		w.encodeErr = err
	}
}
