package api

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/appcitas/appcitas/internal/booking"
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
	500: "Internal error",
	501: "Not configured on this server",
	502: "An upstream service (e-mail, payments) refused or did not answer; nothing was saved",
	503: "Unavailable: database_unavailable (the database cannot be reached; retry after Retry-After) or outcome_unknown (the change may have been saved; retry with the same Idempotency-Key)",
	504: "Timed out",
}

// param is a documented query parameter of a route.
type param struct {
	name        string
	description string
	// schema is the value's JSON Schema.
	schema map[string]any
	// required says the route refuses a request without it.
	required bool
}

// qString documents a text query parameter.
func qString(name, description string) param {
	return param{name: name, description: description, schema: map[string]any{"type": "string"}}
}

// qID documents a positive integer query parameter (an id).
func qID(name, description string) param {
	return param{name: name, description: description, schema: map[string]any{"type": "integer", "format": "int64", "minimum": 1}}
}

// qInt documents an integer query parameter within [lo, hi].
func qInt(name, description string, lo, hi int) param {
	return param{name: name, description: description, schema: map[string]any{"type": "integer", "minimum": lo, "maximum": hi}}
}

// qDate documents a YYYY-MM-DD query parameter.
func qDate(name, description string) param {
	return param{name: name, description: description, schema: map[string]any{"type": "string", "format": "date"}}
}

// qBool documents a true/false query parameter.
func qBool(name, description string) param {
	return param{name: name, description: description, schema: map[string]any{"type": "boolean"}}
}

// qEnum documents a query parameter that takes one of values.
func qEnum(name, description string, values ...string) param {
	return param{name: name, description: description, schema: map[string]any{"type": "string", "enum": values}}
}

// must marks p required.
func (p param) must() param {
	p.required = true
	return p
}

// direction says whether a schema describes what clients send or what the server answers.
type direction int

const (
	// inbound schemas describe request bodies: a field is required only when tagged openapi:"required".
	inbound direction = iota
	// outbound schemas describe responses: a field is always present unless omitempty or omitzero.
	outbound
)

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
		params := []any{}
		for _, name := range pathParams(rt.path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": pathParamSchema(name)})
		}
		qs := append([]param(nil), rt.query...)
		sort.Slice(qs, func(i, j int) bool { return qs[i].name < qs[j].name })
		for _, q := range qs {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.description, "required": q.required, "schema": q.schema})
		}
		errs := map[int]bool{500: true}
		for _, st := range rt.errors {
			errs[st] = true
		}
		switch {
		case rt.access != public:
			op["security"] = []any{map[string]any{"bearerAuth": []string{}}}
			errs[401] = true
		case rt.optionalBearer:
			op["security"] = []any{map[string]any{}, map[string]any{"metricsToken": []string{}}}
		default:
			op["security"] = []any{}
		}
		for _, h := range rt.headers {
			params = append(params, map[string]any{"name": h.name, "in": "header", "description": h.description, "required": h.required, "schema": h.schema})
		}
		if rt.access == tenant {
			params = append(params, map[string]any{"name": "X-Organization-ID", "in": "header", "required": false,
				"description": "The organization to act in; defaults to the token's org claim.",
				"schema":      map[string]any{"type": "integer", "format": "int64", "minimum": 1}})
			errs[400], errs[402], errs[403], errs[404], errs[503] = true, true, true, true, true
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.request), inbound, map[reflect.Type]bool{})}}}
			errs[400], errs[413], errs[415] = true, true, true
		}
		responses := map[string]any{}
		ok := map[string]any{"description": http.StatusText(rt.successStatus())}
		if rt.response != nil {
			cts := rt.contentTypes
			if len(cts) == 0 {
				cts = []string{"application/json"}
				if _, isText := rt.response.(string); isText {
					cts = []string{"text/plain"}
				}
			}
			content := map[string]any{}
			for _, ct := range cts {
				content[ct] = map[string]any{"schema": schemaOf(reflect.TypeOf(rt.response), outbound, map[reflect.Type]bool{})}
			}
			ok["content"] = content
		}
		if len(rt.responseHeaders) > 0 {
			hs := map[string]any{}
			for _, h := range rt.responseHeaders {
				hs[h.name] = map[string]any{"description": h.description, "required": h.required, "schema": h.schema}
			}
			ok["headers"] = hs
		}
		responses[strconv.Itoa(rt.successStatus())] = ok
		if rt.notModified {
			responses["304"] = map[string]any{"description": "Not Modified: If-None-Match holds the current ETag"}
		}
		for _, st := range rt.alsoStatus {
			also := copySchema(ok)
			also["description"] = http.StatusText(st)
			responses[strconv.Itoa(st)] = also
		}
		for st := range errs {
			responses[strconv.Itoa(st)] = map[string]any{"$ref": "#/components/responses/E" + strconv.Itoa(st)}
		}
		op["responses"] = responses
		paths[p][strings.ToLower(rt.method)] = op
	}
	errResponses := map[string]any{}
	for st, text := range statusText {
		r := map[string]any{"description": text,
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
		switch st {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			r["headers"] = map[string]any{"Retry-After": map[string]any{"description": "Seconds to wait before retrying",
				"schema": map[string]any{"type": "integer", "minimum": 0}}}
		case http.StatusUnauthorized:
			r["headers"] = map[string]any{"WWW-Authenticate": map[string]any{"description": "The bearer challenge",
				"schema": map[string]any{"type": "string"}}}
		}
		errResponses["E"+strconv.Itoa(st)] = r
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "appcitas API",
			"version":     "1",
			"description": "Appointment booking, one PostgreSQL schema per organization. Tenant routes take Authorization: Bearer <token> and X-Organization-ID.",
			"license":     map[string]any{"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
		},
		"servers": []any{map[string]any{"url": "/", "description": "The server that serves this document"}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "An access token from POST /api/auth/token."},
				"metricsToken": map[string]any{"type": "http", "scheme": "bearer",
					"description": "The value of APPCITAS_METRICS_TOKEN; /metrics needs it only when that is set."},
			},
			"responses": errResponses,
			"schemas": map[string]any{"Error": map[string]any{
				"type": "object", "required": []string{"error"}, "additionalProperties": false,
				"properties": map[string]any{"error": map[string]any{
					"type": "object", "required": []string{"code", "message"}, "additionalProperties": false,
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

// pathParamSchema describes a path wildcard: ids are positive integers, anything else text.
func pathParamSchema(name string) map[string]any {
	if name == "id" || strings.HasSuffix(name, "_id") {
		return map[string]any{"type": "integer", "format": "int64", "minimum": 1}
	}
	return map[string]any{"type": "string"}
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

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// knownSchemas holds the schemas of types that encode themselves (json.Marshaler or
// encoding.TextMarshaler): reflection on their fields would describe the wrong shape.
var knownSchemas = map[reflect.Type]map[string]any{
	timeType:                        {"type": "string", "format": "date-time"},
	reflect.TypeFor[booking.Date](): {"type": "string", "format": "date"},
	rawMessageType:                  {},
}

// customEncoding reports whether t (or *t) encodes itself for encoding/json.
func customEncoding(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshalerType) || pt.Implements(jsonMarshalerType) ||
		t.Implements(textMarshalerType) || pt.Implements(textMarshalerType)
}

// schemaOf describes a Go type as a JSON Schema, following encoding/json's rules: field names,
// omitempty and omitzero, nil slices and maps as null, and types that encode themselves.
func schemaOf(t reflect.Type, dir direction, seen map[reflect.Type]bool) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	known, isKnown := knownSchemas[t]
	switch {
	case isKnown:
		s = copySchema(known)
	case customEncoding(t) && t.Implements(textMarshalerType) && !t.Implements(jsonMarshalerType):
		s = map[string]any{"type": "string"} // encoding/json writes a TextMarshaler as a string
	case customEncoding(t):
		s = map[string]any{} // a json.Marshaler may write anything
	case t.Kind() == reflect.String:
		s = map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		s = map[string]any{"type": "integer"}
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		s = map[string]any{"type": "integer", "minimum": 0}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s = map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		s = map[string]any{"type": "string", "contentEncoding": "base64"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		s = map[string]any{"type": "array", "items": schemaOf(t.Elem(), dir, seen)}
		nullable = nullable || (t.Kind() == reflect.Slice && dir == outbound)
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), dir, seen)}
		nullable = nullable || dir == outbound
	case t.Kind() == reflect.Struct:
		if seen[t] {
			return map[string]any{"type": "object"}
		}
		seen[t] = true
		props := map[string]any{}
		var required []string
		addStructFields(t, dir, props, &required, seen)
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

func copySchema(s map[string]any) map[string]any {
	c := make(map[string]any, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// addStructFields adds t's JSON fields to props. A response field is required unless omitempty or
// omitzero; a request field is required only when tagged openapi:"required" (the handler refuses
// a body without it). The tag openapi:"format=date" (or any format) sets the field's format.
func addStructFields(t reflect.Type, dir direction, props map[string]any, required *[]string, seen map[reflect.Type]bool) {
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
				addStructFields(ft, dir, props, required, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs := schemaOf(f.Type, dir, seen)
		omit := false
		for _, o := range strings.Split(opts, ",") {
			omit = omit || o == "omitempty" || o == "omitzero"
		}
		must := false
		for _, o := range strings.Split(f.Tag.Get("openapi"), ",") {
			if format, ok := strings.CutPrefix(o, "format="); ok {
				fs["format"] = format
			}
			must = must || o == "required"
		}
		props[name] = fs
		if (dir == outbound && !omit) || (dir == inbound && must) {
			*required = append(*required, name)
		}
	}
}
