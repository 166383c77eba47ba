package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// contract checks every request the tests send, and every answer, against the OpenAPI document.
type contract struct {
	t      testing.TB
	router routers.Router
	next   http.Handler
	// mu serializes validations (kin-openapi's schema caches are not documented as concurrent).
	mu sync.Mutex
}

// boundTo returns c reporting to t (a fuzz target's *testing.T).
func (c *contract) boundTo(t testing.TB) *contract {
	return &contract{t: t, router: c.router, next: c.next}
}

// withContract wraps h so that each exchange is validated against doc: an answer whose status,
// media type or body the document does not describe fails the test, and so does a request the
// document calls invalid that the server accepts.
func withContract(t testing.TB, doc []byte, h http.Handler) *contract {
	t.Helper()
	router, err := contractRouter(doc)
	if err != nil {
		t.Fatalf("the OpenAPI document does not load: %v", err)
	}
	return &contract{t: t, router: router, next: h}
}

// contractRouter loads and validates doc, and routes requests to its operations.
func contractRouter(doc []byte) (routers.Router, error) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := spec.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	spec.Servers = nil // requests in the tests carry arbitrary hosts; "/" is the only server anyway
	return legacy.NewRouter(spec)
}

// recorder tees an answer to the real writer and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (c *contract) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The copy for validation is taken before the server sees the request.
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	// The server takes a JSON body without Content-Type, or as any +json type (decodeJSON).
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); len(body) > 0 && (mt == "" || strings.HasSuffix(mt, "+json")) {
		vreq.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{ResponseWriter: w}
	c.next.ServeHTTP(rec, req)
	if rec.status == 0 && req.Context().Err() != nil {
		return // the client left before any answer: there is nothing to check
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if err := c.check(vreq, body, rec.status, w.Header(), rec.body.Bytes()); err != nil {
		c.t.Errorf("OpenAPI contract: %s %s → %d: %v\nresponse body: %.500s", req.Method, req.URL.RequestURI(), rec.status, err, rec.body.String())
	}
}

// check validates one exchange.
func (c *contract) check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// ServeMux answers HEAD on GET routes: it is checked as the GET operation, status only.
	head := req.Method == http.MethodHead
	lookup := req
	if head {
		lookup = req.Clone(context.Background())
		lookup.Method = http.MethodGet
	}
	route, params, err := c.router.FindRoute(lookup)
	if err != nil {
		// Only the server's own "no such route" answers may come from an undocumented route.
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if (status == 404 && e.Error.Code == "not_found") || (status == 405 && e.Error.Code == "method_not_allowed") {
			return nil
		}
		return fmt.Errorf("the document has no operation for this request (%v), yet the server answered", err)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            false,
	}
	if head {
		if route.Operation.Responses.Status(status) == nil {
			return fmt.Errorf("status %d is not documented for GET", status)
		}
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && status < 400 {
		return fmt.Errorf("the document calls the request invalid, yet the server accepted it: %w", reqErr)
	}
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	jsonBody := mediaType == "application/json" || len(body) == 0
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: !jsonBody},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	if jsonBody {
		return nil
	}
	// Bodies that are not JSON: the media type must be documented for the status.
	resp := route.Operation.Responses.Status(status)
	if resp == nil || resp.Value == nil || resp.Value.Content.Get(mediaType) == nil || resp.Value.Content[mediaType] == nil {
		return fmt.Errorf("media type %q is not documented for status %d", mediaType, status)
	}
	if mediaType == "application/x-ndjson" {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				return fmt.Errorf("NDJSON line %q is not a JSON object: %w", sc.Text(), err)
			}
		}
		return sc.Err()
	}
	if strings.HasPrefix(mediaType, "text/") && len(body) == 0 && status == http.StatusOK {
		return fmt.Errorf("empty %s body", mediaType)
	}
	return nil
}
