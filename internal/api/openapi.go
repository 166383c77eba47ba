package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// openapi serves the OpenAPI 3 document built from the route table.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(s.openapiDoc)
}

var statusText = map[int]string{
	400: "Bad input", 401: "Missing, invalid or expired token", 402: "Subscription suspended",
	403: "Forbidden (no profile in the organization, inactive organization or role)", 404: "Not found",
	409: "Conflict", 413: "Body too large", 415: "Body is not JSON",
	422: "Idempotency-Key reused with a different request", 429: "Too many attempts (see Retry-After)",
	501: "Not configured on this server",
	503: "Unavailable: database_unavailable (the database cannot be reached; retry after Retry-After) or outcome_unknown (the change may have been saved; retry with the same Idempotency-Key)",
	504: "Timed out",
}

// buildOpenAPI renders the OpenAPI 3.1 document of rs. Every route of the table is an operation,
// and nothing else is.
func buildOpenAPI(rs []route) []byte {
	paths := map[string]map[string]any{}
	for _, rt := range rs {
		p := openapiPath(rt.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.summary,
		}
		if rt.tag != "" {
			op["tags"] = []string{rt.tag}
		}
		var params []any
		for _, name := range pathParams(rt.path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		qnames := make([]string, 0, len(rt.query))
		for name := range rt.query {
			qnames = append(qnames, name)
		}
		sort.Strings(qnames)
		for _, name := range qnames {
			params = append(params, map[string]any{"name": name, "in": "query", "description": rt.query[name], "schema": map[string]any{"type": "string"}})
		}
		errs := map[int]bool{}
		for _, st := range rt.errors {
			errs[st] = true
		}
		if rt.access != public {
			op["security"] = []any{map[string]any{"bearerAuth": []string{}}}
			errs[401] = true
		}
		if rt.access == tenant {
			params = append(params, map[string]any{"name": "X-Organization-ID", "in": "header", "required": false,
				"description": "The organization to act in; defaults to the token's org claim.",
				"schema":      map[string]any{"type": "integer", "minimum": 1}})
			errs[400], errs[403], errs[404], errs[503] = true, true, true, true
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.request), map[reflect.Type]bool{})}}}
			errs[400], errs[413] = true, true
		}
		responses := map[string]any{}
		ok := map[string]any{"description": http.StatusText(rt.successStatus())}
		if rt.response != nil {
			ct := "application/json"
			if _, isText := rt.response.(string); isText {
				ct = "text/plain"
			}
			if rt.contentType != "" {
				ct = rt.contentType
			}
			ok["content"] = map[string]any{ct: map[string]any{"schema": schemaOf(reflect.TypeOf(rt.response), map[reflect.Type]bool{})}}
		}
		responses[strconv.Itoa(rt.successStatus())] = ok
		for st := range errs {
			responses[strconv.Itoa(st)] = map[string]any{"description": statusText[st],
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
		}
		op["responses"] = responses
		paths[p][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "appcitas API",
			"version":     "1",
			"description": "Appointment booking, one PostgreSQL schema per organization. Tenant routes take Authorization: Bearer <token> and X-Organization-ID.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas": map[string]any{"Error": map[string]any{
				"type": "object", "required": []string{"error"},
				"properties": map[string]any{"error": map[string]any{
					"type": "object", "required": []string{"code", "message"},
					"properties": map[string]any{
						"code":    map[string]any{"type": "string"},
						"message": map[string]any{"type": "string"},
						"field":   map[string]any{"type": "string"},
					}}},
			}},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // maps of plain values always marshal
	return b
}

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, part := range strings.FieldsFunc(rt.path, func(r rune) bool {
		return r == '/' || r == '{' || r == '}' || r == '.' || r == '$' || r == '_' || r == '-'
	}) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if strings.HasSuffix(rt.path, "/{$}") {
		b.WriteString("Index") // "/admin/{$}" apart from "/admin"
	}
	return b.String()
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf describes a Go type as a JSON Schema, following encoding/json's rules for field names.
func schemaOf(t reflect.Type, seen map[reflect.Type]bool) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch {
	case t == timeType:
		s = map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.String:
		s = map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s = map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s = map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		s = map[string]any{"type": "array", "items": schemaOf(t.Elem(), seen)}
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), seen)}
	case t.Kind() == reflect.Struct:
		if seen[t] {
			return map[string]any{"type": "object"}
		}
		seen[t] = true
		props := map[string]any{}
		var required []string
		addStructFields(t, props, &required, seen)
		delete(seen, t)
		s = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			sort.Strings(required)
			s["required"] = required
		}
	default:
		s = map[string]any{}
	}
	if nullable && s["type"] != nil {
		s["type"] = []any{s["type"], "null"}
	}
	return s
}

func addStructFields(t reflect.Type, props map[string]any, required *[]string, seen map[reflect.Type]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addStructFields(ft, props, required, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, seen)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}
