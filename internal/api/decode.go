package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// defaultMaxBodyBytes bounds request bodies unless Config says otherwise.
const defaultMaxBodyBytes = 1 << 20

// decodeJSON reads r's body into dst strictly: a JSON content type (or none), at most the server's
// body limit, no unknown fields, exactly one JSON value. Its errors are *Error with a 4xx status
// and a message that names the field at fault.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apiError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json), got %q", ct)
		}
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return decodeError(err)
	}
	// A JSON null would leave dst as it is: every body the API takes is an object.
	if string(raw) == "null" {
		return apiError(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object, got null")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err)
		}
		return apiError(http.StatusBadRequest, "invalid_json", "the request body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit), Err: err}
	case errors.Is(err, io.EOF):
		return apiError(http.StatusBadRequest, "invalid_json", "the request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apiError(http.StatusBadRequest, "invalid_json", "the request body is truncated JSON")
	case errors.As(err, &syntax):
		return apiError(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apiError(http.StatusBadRequest, "invalid_json", "the request body must be JSON: %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		e := apiError(http.StatusBadRequest, "invalid_field", "field %q must be %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		e.Field = typ.Field
		return e
	case errors.As(err, &invalid):
		return fmt.Errorf("decoding request: %w", err)
	}
	// encoding/json reports unknown fields and other content problems only as text.
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		e := apiError(http.StatusBadRequest, "unknown_field", "unknown field %s", name)
		e.Field = strings.Trim(name, `"`)
		return e
	}
	return apiError(http.StatusBadRequest, "invalid_json", "invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch {
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return "a " + kind
}

// emptyBody accepts a request without a body, or with an empty JSON object.
// Anything else is a 4xx.
func (s *Server) emptyBody(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return apiError(http.StatusUnsupportedMediaType, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json), got %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var none struct{}
	if err := dec.Decode(&none); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, "invalid_json", "the request body must hold a single JSON value")
	}
	return nil
}
