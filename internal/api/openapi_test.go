package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestOpenAPIDocument checks that the served document loads and validates as OpenAPI (kin-openapi),
// that it says what the wire carries, and writes it to $APPCITAS_OPENAPI_OUT when that is set
// (.ci/run lints that file with Redocly).
func TestOpenAPIDocument(t *testing.T) {
	e := setup(t, nil)
	rec := e.do("GET", "/api/openapi.json", nil)
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	if out := os.Getenv("APPCITAS_OPENAPI_OUT"); out != "" {
		if err := os.WriteFile(out, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("LoadsAndValidates", func(t *testing.T) {
		if _, err := contractRouter(rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
	})
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// at walks doc by keys (and list indexes as ints).
	at := func(t *testing.T, keys ...any) any {
		t.Helper()
		var v any = doc
		for _, k := range keys {
			switch k := k.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					t.Fatalf("%v: no element %d", keys, k)
				}
				v = l[k]
			}
		}
		return v
	}
	t.Run("DatesAreStrings", func(t *testing.T) {
		got := at(t, "paths", "/api/excepciones", "post", "responses", "201", "content", "application/json", "schema", "properties", "fecha")
		if b, _ := json.Marshal(got); string(b) != `{"format":"date","type":"string"}` {
			t.Errorf("fecha is documented as %s", b)
		}
	})
	t.Run("OptionalRequestFieldsAreNotRequired", func(t *testing.T) {
		got := at(t, "paths", "/api/citas", "post", "requestBody", "content", "application/json", "schema", "required")
		if b, _ := json.Marshal(got); string(b) != `["inicio","profesional_id","sede_id","servicio_id"]` {
			t.Errorf("POST /api/citas requires %s", b)
		}
	})
	t.Run("QueryParametersAreTypedAndRequiredMarked", func(t *testing.T) {
		params, _ := at(t, "paths", "/api/disponibilidad", "get", "parameters").([]any)
		seen := 0
		for _, p := range params {
			p := p.(map[string]any)
			switch p["name"] {
			case "servicio_id", "sede_id":
				seen++
				if p["required"] != true || p["schema"].(map[string]any)["type"] != "integer" {
					t.Errorf("%v is not a required integer: %v", p["name"], p)
				}
			case "desde", "hasta":
				seen++
				if p["required"] != true || p["schema"].(map[string]any)["format"] != "date" {
					t.Errorf("%v is not a required date: %v", p["name"], p)
				}
			}
		}
		if seen != 4 {
			t.Errorf("found %d of the 4 required parameters", seen)
		}
	})
	t.Run("AdminQueryServesNDJSONOrCSV", func(t *testing.T) {
		content, _ := at(t, "paths", "/api/admin/query", "post", "responses", "200", "content").(map[string]any)
		if content["application/x-ndjson"] == nil || content["text/csv"] == nil || content["text/plain"] != nil {
			t.Errorf("admin query content types: %v", content)
		}
	})
	t.Run("MetricsDeclaresItsBearer", func(t *testing.T) {
		b, _ := json.Marshal(at(t, "paths", "/metrics", "get", "security"))
		if string(b) != `[{},{"metricsToken":[]}]` {
			t.Errorf("/metrics security: %s", b)
		}
	})
	t.Run("HasAServer", func(t *testing.T) {
		if at(t, "servers", 0, "url") != "/" {
			t.Errorf("servers: %v", doc["servers"])
		}
	})
}

// TestNullBodyIsRefused checks that a JSON null body is a 400, not an empty request: PUT
// /api/miembros/{id}/horario with null used to clear the staff member's hours.
func TestNullBodyIsRefused(t *testing.T) {
	b := setupBooking(t)
	rec := b.do("PUT", "/api/miembros/"+strconv.FormatInt(b.staffProfile, 10)+"/horario", "null", b.adminH...)
	wantError(t, rec, 400, "invalid_json")
}

// failures is a testing.TB that keeps the contract's complaints instead of failing the test.
type failures struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (f *failures) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *failures) Helper() {}

// TestContractRejectsDrift checks that the tests' contract check fails an exchange the document
// does not describe.
func TestContractRejectsDrift(t *testing.T) {
	row := func(status int, body any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, body) }
	}
	routes := []route{
		{method: "GET", path: "/api/test/teapot", access: public, tag: "test", summary: "test only", response: serviceRow{}, handler: row(http.StatusTeapot, serviceRow{ID: 1})},
		{method: "GET", path: "/api/test/extra", access: public, tag: "test", summary: "test only", response: serviceRow{},
			handler: row(http.StatusOK, map[string]any{"id": 1, "nombre": "x", "extra": true})},
		{method: "GET", path: "/api/test/missing", access: public, tag: "test", summary: "test only", response: serviceRow{},
			handler: row(http.StatusOK, map[string]any{"id": 1})},
		{method: "GET", path: "/api/test/date", access: public, tag: "test", summary: "test only", response: struct {
			D booking.Date `json:"d"`
		}{}, handler: row(http.StatusOK, map[string]any{"d": map[string]int{"Year": 2027, "Month": 2, "Day": 1}})},
		{method: "GET", path: "/api/test/lax", access: public, tag: "test", summary: "test only", response: serviceRow{},
			query: []param{qID("sede_id", "branch").must()}, handler: row(http.StatusOK, serviceRow{ID: 1, Nombre: "x"})},
		{method: "GET", path: "/api/test/text", access: public, tag: "test", summary: "test only", response: serviceRow{},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/csv")
				_, _ = w.Write([]byte("a,b\n"))
			}},
		{method: "GET", path: "/api/test/fine", access: public, tag: "test", summary: "test only", response: serviceRow{}, handler: row(http.StatusOK, serviceRow{ID: 1, Nombre: "x"})},
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern(), rt.handler)
	}
	undocumented := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, serviceRow{}) }
	mux.HandleFunc("GET /api/test/undocumented", undocumented)
	for _, tc := range []struct{ name, path string }{
		{"RejectsAnUndocumentedStatus", "/api/test/teapot"},
		{"RejectsAnUndocumentedField", "/api/test/extra"},
		{"RejectsAMissingRequiredField", "/api/test/missing"},
		{"RejectsADateSentAsAnObject", "/api/test/date"},
		{"RejectsAnInvalidRequestTheServerAccepted", "/api/test/lax"},
		{"RejectsAnUndocumentedMediaType", "/api/test/text"},
		{"RejectsAnUndocumentedRoute", "/api/test/undocumented"},
		{"AcceptsWhatTheDocumentSays", "/api/test/fine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &failures{TB: t}
			c := withContract(f, buildOpenAPI(routes), mux)
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if want := tc.name != "AcceptsWhatTheDocumentSays"; (len(f.errs) > 0) != want {
				t.Errorf("complaints %q, want some: %v", f.errs, want)
			}
		})
	}
}
