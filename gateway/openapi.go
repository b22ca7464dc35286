package gateway

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qrpay/qrpay/errs"
)

// Auth is how a route authenticates its caller.
type Auth int

// The kinds of caller.
const (
	Public   Auth = iota
	Session       // a wallet customer's bearer session token
	Merchant      // a merchant API key, HMAC-signed request
	Operator      // the operator's bearer token
)

// Param documents a path or query parameter.
type Param struct {
	Name     string
	In       string // "path", "query" or "header"
	Type     string // "string", "integer", "boolean"
	Doc      string
	Required bool
}

// Op documents one route. Every route is registered through an Op, so the
// OpenAPI document is generated from the same values that serve traffic and
// cannot drift from them.
type Op struct {
	Method, Path string // Fiber syntax: /v1/orders/:id
	Summary      string
	Tag          string
	Auth         Auth
	Scope        string // API key scope for Merchant routes
	Idempotent   bool   // requires an Idempotency-Key header
	Request      any    // zero value of the JSON body, or nil
	// OptionalBody marks a Request the client may leave out altogether
	// (an empty body means every field's default).
	OptionalBody bool
	Response     any    // zero value of the JSON success body, or nil
	Status       int    // success status; 200 when zero
	Produces     string // success content type when not JSON
	// AlsoProduces is a file type the success body takes instead of JSON
	// when the client asks for it (a statement as CSV, say).
	AlsoProduces string
	// ETag marks a file served with its checksum as the ETag: a request
	// whose If-None-Match names it gets 304 Not Modified and no body.
	ETag   bool
	Params []Param
	Errors []errs.Code
}

var pathParam = regexp.MustCompile(`:([A-Za-z_]+)`)

func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

// openAPI builds the OpenAPI 3.0 document for ops.
func openAPI(version string, ops []Op) map[string]any {
	g := &schemaGen{components: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, op := range ops {
		status := op.Status
		if status == 0 {
			status = http.StatusOK
		}
		o := map[string]any{
			"summary":     op.Summary,
			"operationId": operationID(op),
			"tags":        []string{op.Tag},
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			doc := ""
			for _, p := range op.Params {
				if p.Name == m[1] {
					doc = p.Doc
				}
			}
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
				"description": doc, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range op.Params {
			if p.In == "query" || p.In == "header" {
				typ := p.Type
				if typ == "" {
					typ = "string"
				}
				params = append(params, map[string]any{"name": p.Name, "in": p.In, "required": p.Required,
					"description": p.Doc, "schema": map[string]any{"type": typ}})
			}
		}
		if op.ETag {
			params = append(params, map[string]any{"name": "If-None-Match", "in": "header",
				"description": "The ETag of a copy the client holds; when it is current the answer is 304 with no body.",
				"schema":      map[string]any{"type": "string"}})
		}
		if op.Idempotent {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": true,
				"description": "Unique per operation, at most 255 characters. Retries with the same key and body replay the first response.",
				"schema":      map[string]any{"type": "string", "maxLength": 255}})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		switch op.Auth {
		case Session:
			o["security"] = []any{map[string]any{"session": []string{}}}
		case Merchant:
			o["security"] = []any{map[string]any{"merchantSignature": []string{}}}
			if op.Scope != "" {
				o["description"] = "Requires an API key with scope `" + op.Scope + "`."
			}
		case Operator:
			o["security"] = []any{map[string]any{"operator": []string{}}}
		}
		if op.Request != nil {
			o["requestBody"] = map[string]any{"required": !op.OptionalBody, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.Request))}}}
		}
		resp := map[string]any{"description": http.StatusText(status)}
		switch {
		case op.Produces != "":
			resp["content"] = map[string]any{op.Produces: map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
		case op.Response != nil:
			content := map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.Response))}}
			if op.AlsoProduces != "" {
				content[op.AlsoProduces] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
			}
			resp["content"] = content
		}
		responses := map[string]any{strconv.Itoa(status): resp}
		if op.ETag {
			resp["headers"] = map[string]any{"ETag": map[string]any{"required": true,
				"description": "The file's SHA-256 in hex, quoted.", "schema": map[string]any{"type": "string"}}}
			responses[strconv.Itoa(http.StatusNotModified)] = map[string]any{
				"description": "The copy named by If-None-Match is current."}
		}
		errSchema := g.schema(reflect.TypeOf(ErrorBody{}))
		byStatus := map[int][]string{}
		for _, code := range append(append([]errs.Code{}, op.Errors...), defaultErrors(op)...) {
			st := StatusOf(code)
			if !contains(byStatus[st], string(code)) {
				byStatus[st] = append(byStatus[st], string(code))
			}
		}
		for st, codes := range byStatus {
			sort.Strings(codes)
			responses[strconv.Itoa(st)] = map[string]any{
				"description": "Error codes: " + strings.Join(codes, ", "),
				"content":     map[string]any{"application/json": map[string]any{"schema": errorSchema(errSchema, codes)}},
			}
		}
		o["responses"] = responses
		path := openAPIPath(op.Path)
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "qrpay",
			"version":     version,
			"description": "Merchant point-of-sale QR payment gateway with a wallet behind it. Money is always an integer number of minor units (fen for CNY) with an ISO 4217 currency code.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"session":           map[string]any{"type": "http", "scheme": "bearer", "description": "Wallet session token from POST /v1/wallet/sessions."},
				"operator":          map[string]any{"type": "http", "scheme": "bearer", "description": "The operator token (OPERATOR_TOKEN)."},
				"merchantSignature": map[string]any{"type": "apiKey", "in": "header", "name": "X-Qrpay-Key", "description": "Merchant API key id; the request is signed as docs/signing.md describes."},
			},
		},
	}
}

// errorSchema is the error body restricted to the codes an operation
// answers with one status.
func errorSchema(body map[string]any, codes []string) map[string]any {
	return map[string]any{"allOf": []any{body, map[string]any{
		"type": "object",
		"properties": map[string]any{"error": map[string]any{
			"type":       "object",
			"properties": map[string]any{"code": map[string]any{"type": "string", "enum": codes}},
		}},
	}}}
}

func defaultErrors(op Op) []errs.Code {
	codes := []errs.Code{errs.Internal, errs.Unavailable}
	if op.Request != nil {
		codes = append(codes, errs.InvalidJSON, errs.Invalid, errs.UnsupportedMediaType, errs.PayloadTooLarge)
	} else {
		codes = append(codes, errs.InvalidJSON) // a body sent to a route that takes none
	}
	for _, p := range op.Params {
		if p.In == "query" {
			codes = append(codes, errs.Invalid) // a malformed or out-of-range value
			break
		}
	}
	switch op.Auth {
	case Session, Operator:
		codes = append(codes, errs.Unauthorized)
	case Merchant:
		codes = append(codes, errs.Unauthorized)
		if op.Scope != "" {
			codes = append(codes, errs.Forbidden) // a key without the scope
		}
	}
	if op.Auth == Merchant {
		codes = append(codes, errs.RateLimited) // each API key's budget
	}
	if op.Idempotent {
		// An over-long key is invalid.
		codes = append(codes, errs.IdempotencyKeyRequired, errs.Invalid, errs.IdempotencyMismatch, errs.IdempotencyInProgress,
			errs.Maintenance) // idempotent routes move money, which maintenance stops
	}
	return codes
}

func operationID(op Op) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.Method))
	for _, part := range strings.Split(op.Path, "/") {
		if part == "" || part == "v1" {
			continue
		}
		part = strings.TrimPrefix(part, ":")
		for _, w := range strings.FieldsFunc(part, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// schemaGen turns Go types into JSON Schema. Struct fields use their json
// tag for the name, `doc` for the description, `example` for an example and
// `enum` (comma-separated) for allowed values; a field without omitempty is
// required.
type schemaGen struct {
	components map[string]any
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
	textType = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"type": "object", "additionalProperties": true}
	case t.Implements(textType):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint64, reflect.Uint:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // break cycles
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	sort.Strings(required)
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	if ex := g.objectExample(props, required); len(ex) > 0 {
		o["example"] = ex
	}
	return o
}

// fields adds t's JSON fields to props. Like encoding/json, it promotes the
// fields of an untagged embedded struct into the outer object; a field of
// the outer struct hides an embedded one of the same name.
func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, hidden := props[name]; hidden {
			continue
		}
		s := g.schema(f.Type)
		_, isRef := s["$ref"]
		if isRef && (f.Tag.Get("doc") != "" || f.Type.Kind() == reflect.Pointer) {
			// OpenAPI 3.0 ignores the siblings of a $ref.
			s = map[string]any{"allOf": []any{s}}
		}
		if d := f.Tag.Get("doc"); d != "" {
			s["description"] = d
		}
		if e := f.Tag.Get("enum"); e != "" {
			s["enum"] = strings.Split(e, ",")
		}
		if ex, ok := f.Tag.Lookup("example"); ok {
			s["example"] = exampleValue(ex, s["type"])
		}
		if f.Type.Kind() == reflect.Pointer {
			s["nullable"] = true
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
	for _, et := range embedded {
		g.fields(et, props, required)
	}
}

// objectExample is an object's example: every field that has one, and a
// plausible value for every required field that has none, so that the
// example is itself a valid instance.
func (g *schemaGen) objectExample(props map[string]any, required []string) map[string]any {
	ex := map[string]any{}
	for name, p := range props {
		if v, ok := p.(map[string]any)["example"]; ok {
			ex[name] = v
		}
	}
	if len(ex) == 0 {
		return nil
	}
	for _, name := range required {
		if _, ok := ex[name]; !ok {
			ex[name] = g.exampleOf(props[name].(map[string]any))
		}
	}
	return ex
}

// exampleTime is the instant examples use.
const exampleTime = "2026-11-25T10:30:00+08:00"

// exampleOf makes up a value that fits s.
func (g *schemaGen) exampleOf(s map[string]any) any {
	if v, ok := s["example"]; ok {
		return v
	}
	if s["nullable"] == true {
		return nil
	}
	if e, ok := s["enum"].([]string); ok && len(e) > 0 {
		return e[0]
	}
	if ref, ok := s["$ref"].(string); ok {
		c, _ := g.components[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		if v, ok := c["example"]; ok {
			return v
		}
		return g.exampleOf(c)
	}
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		return g.exampleOf(all[0].(map[string]any))
	}
	switch s["type"] {
	case "string":
		switch s["format"] {
		case "date-time":
			return exampleTime
		case "byte":
			return ""
		}
		return ""
	case "integer", "number":
		return 0
	case "boolean":
		return false
	case "array":
		return []any{}
	case "object":
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]string)
		ex := map[string]any{}
		for _, name := range req {
			ex[name] = g.exampleOf(props[name].(map[string]any))
		}
		return ex
	}
	return nil
}

func exampleValue(s string, typ any) any {
	switch typ {
	case "integer":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case "boolean":
		return s == "true"
	case "array", "object":
		var v any
		if json.Unmarshal([]byte(s), &v) == nil {
			return v
		}
	}
	return s
}
