package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
)

// decodeJSON reads the request body into v strictly: a JSON content type,
// no unknown fields, exactly one value and nothing after it. Every failure
// is an invalid_json error that names what was wrong.
func decodeJSON(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	if !strings.HasPrefix(ct, fiber.MIMEApplicationJSON) {
		return errs.E(errs.UnsupportedMediaType, "Content-Type must be application/json")
	}
	return decodeStrict(c.Body(), v)
}

func decodeStrict(body []byte, v any) error {
	// encoding/json would quietly turn bytes that are not UTF-8 into U+FFFD
	// and store the changed text.
	if !utf8.Valid(body) {
		return errs.E(errs.InvalidJSON, "the body is not valid UTF-8")
	}
	// So would it an escaped UTF-16 surrogate that is not half of a pair.
	if hasLoneSurrogate(body) {
		return errs.E(errs.InvalidJSON, "the body escapes a lone UTF-16 surrogate, which is not a character")
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		return errs.E(errs.InvalidJSON, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.E(errs.InvalidJSON, "%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.E(errs.InvalidJSON, "unexpected data after the JSON object")
	}
	if err := checkFields(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	if field := nulField(reflect.ValueOf(v)); field != "" {
		return errs.E(errs.Invalid, "field %s contains a NUL character", field)
	}
	return nil
}

// hasLoneSurrogate reports whether body holds a \u escape of a UTF-16
// surrogate that is not half of a pair. In valid JSON a backslash only
// starts an escape, so stepping from escape to escape finds them all.
func hasLoneSurrogate(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++ // the escaped character: "\\ud800" escapes a backslash, not a surrogate
		r, ok := escapedRune(body, i)
		switch {
		case !ok || !utf16.IsSurrogate(r):
		case r >= 0xDC00: // a low half with no high half before it
			return true
		default: // a high half: the low half must follow at once
			low, ok := escapedRune(body, i+6)
			if !ok || body[i+5] != '\\' || low < 0xDC00 || !utf16.IsSurrogate(low) {
				return true
			}
			i += 6
		}
		if ok {
			i += 4
		}
	}
	return false
}

// escapedRune reads the code unit of a \u escape whose u is at body[i].
func escapedRune(body []byte, i int) (rune, bool) {
	if i+5 > len(body) || body[i] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(body[i+1:i+5]), 16, 16)
	return rune(n), err == nil
}

// nulField names a string field of v that holds a NUL character, which
// no text column can store; "" when there is none. Refusing it here keeps
// such input a 400 instead of a database error.
func nulField(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulField(v.Elem())
		}
	case reflect.String:
		if strings.ContainsRune(v.String(), 0) {
			return "(value)"
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if f := nulField(v.Index(i)); f != "" {
				return f
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if strings.ContainsRune(k.String(), 0) {
				return "(key)"
			}
			if f := nulField(v.MapIndex(k)); f != "" {
				return f
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			if f := nulField(v.Field(i)); f != "" {
				name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
				if f == "(value)" || name == "" {
					return name
				}
				return name + "." + f
			}
		}
	}
	return ""
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "request body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "request body is truncated JSON"
	case errors.As(err, &syntax):
		return "malformed JSON at byte " + itoa(syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return "field " + typ.Field + " must be " + jsonType(typ.Type.Kind().String()) + ", not " + typ.Value
		}
		return "body must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON: " + err.Error()
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice", kind == "array":
		return "an array"
	}
	return "an object"
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// fieldGiven reports whether the JSON object body has the top-level field
// name, and whether its value is null. decodeJSON has accepted body.
func fieldGiven(body []byte, name string) (given, null bool) {
	if !bytes.Contains(body, []byte(`"`+name+`"`)) && bytes.IndexByte(body, '\\') < 0 {
		return false, false // most bodies: no second parse (a key spelt with escapes is parsed)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return false, false
	}
	raw, ok := fields[name]
	return ok, ok && string(bytes.TrimSpace(raw)) == "null"
}

// bodyField is one JSON field of a request struct as the OpenAPI document
// describes it: required unless tagged omitempty, nullable only when a
// pointer.
type bodyField struct {
	name               string
	required, nullable bool
}

var bodyFieldsOf sync.Map // reflect.Type → []bodyField

// checkFields holds a decoded body to what encoding/json lets through but
// the document forbids: a required field left out (decoded as its zero
// value), null for a field that is not nullable (decoded as nothing at
// all), and a field name in another case (matched case-insensitively).
func checkFields(body []byte, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var given map[string]json.RawMessage
	if err := json.Unmarshal(body, &given); err != nil {
		return errs.E(errs.InvalidJSON, "body must be a JSON object")
	}
	fields := structFields(t)
	for key := range given {
		known := false
		for _, f := range fields {
			known = known || f.name == key
		}
		if !known {
			return errs.E(errs.InvalidJSON, "unknown field %q (field names are case-sensitive)", key)
		}
	}
	for _, f := range fields {
		raw, ok := given[f.name]
		switch {
		case !ok && f.required:
			return errs.E(errs.Invalid, "field %s is required", f.name)
		case ok && !f.nullable && string(bytes.TrimSpace(raw)) == "null":
			return errs.E(errs.Invalid, "field %s must not be null", f.name)
		}
	}
	return nil
}

func structFields(t reflect.Type) []bodyField {
	if fs, ok := bodyFieldsOf.Load(t); ok {
		return fs.([]bodyField)
	}
	var fs []bodyField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			fs = append(fs, structFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, bodyField{name: name, required: !strings.Contains(opts, "omitempty"),
			nullable: f.Type.Kind() == reflect.Pointer})
	}
	bodyFieldsOf.Store(t, fs)
	return fs
}
