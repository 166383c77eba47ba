package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// requestInfo is what the outer middleware learns about a request while inner layers run: its id,
// the matched route, the caller and the answer. It travels in the context as a pointer and is
// written and read on the request's goroutine only. SQL never depends on it.
type requestInfo struct {
	id     string
	route  string
	userID int64
	orgID  int64
	status int
	// membershipChecked is set by inTenant once the caller's profile was verified.
	membershipChecked bool
	// clientIP is the client's address (trustedProxies.clientAddr).
	clientIP string
	// logPath, when set, is logged instead of the request's path: a path that carries a secret
	// (a calendar feed's token) is logged without it.
	logPath string
}

type infoKey struct{}

// infoFrom returns the request's info; a zero one (never nil) outside the middleware.
func infoFrom(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// RequestID returns the id the API gave the request (also sent as X-Request-ID), or "".
func RequestID(ctx context.Context) string { return infoFrom(ctx).id }

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// encodeErr is why writeJSON could not encode an answer (logged with the request).
	encodeErr error
}

// WriteHeader records the first status and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written (an implicit 200 when no status was set).
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware wraps the mux: request id, then log and metrics, then panic recovery, then the body
// size limit.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: r.Header.Get("X-Request-ID"), clientIP: s.proxies.clientAddr(r)}
		if !requestIDPattern.MatchString(info.id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			info.id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-ID", info.id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

		defer func() {
			status := sw.status
			if info.status != 0 {
				status = info.status
			}
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			route := info.route
			if route == "" {
				route = "unmatched"
			}
			s.metrics.observe(route, status, d)
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics":
				level = slog.LevelDebug
			}
			path := r.URL.Path
			if info.logPath != "" {
				path = info.logPath
			}
			attrs := []slog.Attr{
				slog.String("request_id", info.id), slog.String("method", r.Method), slog.String("path", path),
				slog.String("route", route), slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.Int64("bytes", sw.bytes), slog.String("client_ip", info.clientIP), slog.String("user_agent", userAgent(r)),
			}
			if info.orgID != 0 {
				attrs = append(attrs, slog.Int64("org", info.orgID))
			}
			if info.userID != 0 {
				attrs = append(attrs, slog.Int64("user", info.userID))
			}
			if sw.encodeErr != nil {
				attrs = append(attrs, slog.String("err", sw.encodeErr.Error()))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
		}()

		s.recover(s.limitBody(next)).ServeHTTP(sw, r)
	})
}

// recover turns a panic into a 500 JSON answer without detail (the stack goes to the log).
func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			info := infoFrom(r.Context())
			s.log.ErrorContext(r.Context(), "panic serving request", "request_id", info.id, "route", info.route,
				"panic", v, "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				return // too late for another answer
			}
			writeJSON(w, http.StatusInternalServerError, map[string]errorBody{"error": {
				Code: "internal_error", Message: "internal server error (request id " + info.id + ")"}})
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over the limit with 413 up front when the length is declared, and caps
// the body otherwise (decodeJSON then answers 413).
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.fail(w, r, apiError(http.StatusRequestEntityTooLarge, "body_too_large",
				"the request body is larger than %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// txWriter holds back what a tenant handler writes inside its transaction until the transaction
// commits, so that a failed commit never follows a 2xx already sent. inTenant drives it.
type txWriter struct {
	http.ResponseWriter
	buffering bool
	header    http.Header
	status    int
	buf       bytes.Buffer
	// encodeErr is why writeJSON could not encode the held-back answer.
	encodeErr error
}

// Header returns the held-back headers while buffering.
func (w *txWriter) Header() http.Header {
	if w.buffering {
		return w.header
	}
	return w.ResponseWriter.Header()
}

// WriteHeader holds the status back while buffering.
func (w *txWriter) WriteHeader(code int) {
	if w.buffering {
		if w.status == 0 {
			w.status = code
		}
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write holds the body back while buffering.
func (w *txWriter) Write(b []byte) (int, error) {
	if w.buffering {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		return w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *txWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// begin starts holding back writes.
func (w *txWriter) begin() {
	w.buffering, w.status, w.encodeErr = true, 0, nil
	w.header = w.ResponseWriter.Header().Clone()
	w.buf.Reset()
}

// commit sends what was held back.
func (w *txWriter) commit() {
	if !w.buffering {
		return
	}
	w.buffering = false
	if w.status == 0 {
		return
	}
	dst := w.ResponseWriter.Header()
	for k, v := range w.header {
		dst[k] = v
	}
	if w.buf.Len() > 0 {
		dst.Set("Content-Length", strconv.Itoa(w.buf.Len()))
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(w.buf.Bytes())
	w.buf.Reset()
}

// discard forgets what was held back.
func (w *txWriter) discard() {
	w.buffering, w.status, w.header = false, 0, nil
	w.buf.Reset()
}

// maxLoggedUserAgent bounds the User-Agent a request log line carries.
const maxLoggedUserAgent = 256

// userAgent is r's User-Agent as request logs carry it: cut to maxLoggedUserAgent bytes.
func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxLoggedUserAgent {
		ua = strings.ToValidUTF8(ua[:maxLoggedUserAgent], "")
	}
	return ua
}
