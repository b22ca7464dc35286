package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

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
	if field := nulField(reflect.ValueOf(v)); field != "" {
		return errs.E(errs.Invalid, "field %s contains a NUL character", field)
	}
	return nil
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
