package api

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
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
