package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestBadInputMatrix sends every operation of /openapi.json bad input of
// every kind its document allows for — bodies missing a required field,
// with an unknown field, a field of the wrong type, an amount out of range,
// an overlong or invalid UTF-8 string; bodies that are null, an array, not
// JSON, of the wrong media type, too large; malformed path and query
// parameters — each with a valid credential of the right kind, so that
// only the input is wrong. Every answer must be a 4xx whose code
// docs/errors.md lists (the harness checks that the operation documents
// it), and nothing may change: every table of the schema is the same after
// the whole matrix as before it.
func TestBadInputMatrix(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	w := newWorld(t, env)
	codes := documentedCodes(t)
	routes := loadRoutes(t, env)

	var calls []call
	for _, r := range routes {
		cs, err := badInputs(w, r)
		if err != nil {
			t.Errorf("%s: %v", r, err)
			continue
		}
		if len(cs) == 0 {
			t.Errorf("%s: no bad input generated; every operation takes some", r)
		}
		calls = append(calls, cs...)
	}

	// The world's webhooks go to an address that refuses them, and their
	// retries (the first after 10 s) are no bad input's doing: they wait
	// until the matrix has run.
	if _, err := env.Pool.Exec(context.Background(), `UPDATE webhook_events SET next_attempt_at = now() + interval '1 hour'
		WHERE delivered_at IS NULL AND failed_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	before := env.Snapshot(t)
	start := time.Now()
	resps, errs := w.sendAll(calls, 6)
	elapsed := time.Since(start)
	after := env.Snapshot(t)

	perRoute := map[string]int{}
	for i, c := range calls {
		perRoute[c.Route.String()]++
		r, err := resps[i], errs[i]
		switch {
		case err != nil:
			t.Errorf("%s: %v", c, err)
		case r.Status < 400 || r.Status > 499:
			t.Errorf("%s = %d %.300s; want a 4xx", c, r.Status, r.Body)
		case c.Want != 0 && r.Status != c.Want:
			t.Errorf("%s = %d %.300s; want %d", c, r.Status, r.Body, c.Want)
		case codes[r.Code()] != r.Status:
			t.Errorf("%s = %d with code %q; want a code docs/errors.md lists for %d", c, r.Status, r.Code(), r.Status)
		}
	}
	for _, d := range before.Diff(after) {
		t.Errorf("the bad-input matrix changed the database: %s", d)
	}
	t.Logf("%d bad requests to %d operations in %v", len(calls), len(perRoute), elapsed.Round(time.Millisecond))
}

// Values sent in place of a field.
const (
	twoTo53 = "9007199254740992"
	twoTo63 = "9223372036854775808"
)

var amountField = regexp.MustCompile(`amount|per_transaction`)

// badInputs generates the bad requests for one operation from its document.
func badInputs(w *world, r route) ([]call, error) {
	path, ok := w.path(r, nil)
	if !ok {
		return nil, fmt.Errorf("a path parameter has no value in this test's world; add one to pathValue")
	}
	base := call{Route: r, Method: r.Method, Path: path, Cred: w.ownCredential(r), Idem: r.idempotent(),
		ContentType: "application/json"}
	var calls []call
	add := func(name string, change func(c *call)) {
		c := base
		c.Case = name
		change(&c)
		calls = append(calls, c)
	}

	if schema := r.bodySchema(); schema != nil {
		valid := w.validBody(r)
		if valid == nil {
			return nil, fmt.Errorf("no valid body in this test's world; add one to validBody")
		}
		withField := func(name string, v any) []byte {
			m := map[string]any{}
			for k, x := range valid {
				m[k] = x
			}
			if v == nil {
				delete(m, name)
			} else {
				m[name] = v
			}
			b, _ := json.Marshal(m)
			return b
		}
		// raw puts literal JSON text in the field's place.
		raw := func(name, text string) []byte {
			const mark = "\"@@matrix-value@@\""
			b := withField(name, json.RawMessage(mark))
			return []byte(strings.Replace(string(b), mark, text, 1))
		}
		for _, name := range schema.Required {
			add("missing "+name, func(c *call) { c.Body = withField(name, nil) })
		}
		add("unknown field", func(c *call) { c.Body = raw("matrix_unknown", "1") })
		for _, name := range sortedKeys(schema.Properties) {
			prop := schema.Properties[name].Value
			typ := schemaType(prop)
			var wrong []string
			switch typ {
			case "integer", "number":
				wrong = []string{`"1"`, `{}`, `[]`, `true`}
			case "string":
				wrong = []string{`1`, `{}`, `[]`, `true`}
			case "boolean":
				wrong = []string{`"true"`, `1`, `{}`}
			case "array":
				wrong = []string{`"pos"`, `{}`, `1`, `[1]`}
			case "object":
				wrong = []string{`"x"`, `[]`, `1`}
			}
			if !prop.Nullable {
				wrong = append(wrong, `null`)
			}
			for _, v := range wrong {
				add(fmt.Sprintf("%s = %s", name, v), func(c *call) { c.Body = raw(name, v) })
			}
			if typ == "integer" {
				values := []string{"-1", twoTo63, "1e400", "1.5"}
				if amountField.MatchString(name) {
					values = append(values, "0", twoTo53)
				}
				for _, v := range values {
					add(fmt.Sprintf("%s = %s", name, v), func(c *call) { c.Body = raw(name, v) })
				}
			}
			if typ == "string" {
				s, _ := valid[name].(string)
				last := "x"
				if s != "" {
					last = s[len(s)-1:]
				}
				long := s + strings.Repeat(last, 10_000)
				add(name+" overlong", func(c *call) { c.Body = withField(name, long) })
				add(name+" invalid UTF-8", func(c *call) { c.Body = raw(name, "\""+s+"\xff\xfe\"") })
			}
			if typ == "array" {
				add(name+" invalid UTF-8 item", func(c *call) { c.Body = raw(name, "[\"pos\xff\"]") })
			}
		}
		validJSON, _ := json.Marshal(valid)
		bad := map[string]string{
			"body null": "null", "body []": "[]", "body not JSON": "phone=1&password=2",
			"body truncated": `{"a":`, "body two objects": `{}{}`, "body string": `"x"`,
			"field name in another case": string(otherCase(valid)),
		}
		if r.Op.RequestBody.Value.Required {
			bad["body empty"] = "" // else an empty body asks for every default
		}
		for name, body := range bad {
			add(name, func(c *call) { c.Body = []byte(body) })
		}
		add("Content-Type text/plain", func(c *call) { c.Body, c.ContentType, c.Want = validJSON, "text/plain", 415 })
		add("Content-Type form", func(c *call) { c.Body, c.ContentType, c.Want = validJSON, "application/x-www-form-urlencoded", 415 })
		add("no Content-Type", func(c *call) { c.Body, c.ContentType, c.Want = validJSON, "", 415 })
		add("body over BODY_LIMIT", func(c *call) {
			c.Body = []byte(`{"matrix":"` + strings.Repeat("x", 64<<10) + `"}`)
			c.Oversized, c.Want = true, http.StatusRequestEntityTooLarge
		})
	} else {
		// A route that takes no body refuses one rather than ignoring it:
		// what the caller meant by it would silently not happen.
		add("unexpected body", func(c *call) { c.Body = []byte(`{"reason":"matrix"}`) })
		add("unexpected body, text/plain", func(c *call) { c.Body, c.ContentType = []byte(`reason`), "text/plain" })
	}

	if r.idempotent() {
		body, _ := json.Marshal(w.validBody(r))
		add("no Idempotency-Key", func(c *call) { c.Body, c.Idem = body, false })
		add("Idempotency-Key overlong", func(c *call) {
			c.Body, c.Idem = body, false
			c.Headers = []string{"Idempotency-Key", strings.Repeat("k", 256)}
		})
	}

	for _, p := range r.params("path") {
		body := []byte(nil)
		if r.bodySchema() != nil {
			body, _ = json.Marshal(w.validBody(r))
		}
		for name, v := range map[string]string{
			"malformed": "not-a-valid-id", "uuid-like": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5", "overlong": strings.Repeat("9", 1500),
			"escaped": "%2e%2e%2fsecret", "unknown uuid": "00000000-0000-7000-8000-000000000000", "date-like": "2026-02-30",
		} {
			pp, _ := w.path(r, map[string]string{p.Name: v})
			add(fmt.Sprintf("path %s %s", p.Name, name), func(c *call) { c.Path, c.Body = pp, body })
		}
	}

	if r.takesHeader("Last-Event-ID") {
		for _, v := range []string{"garbage", "-1", twoTo63} {
			add("header Last-Event-ID "+v, func(c *call) { c.Headers = []string{"Last-Event-ID", v} })
		}
	}

	for _, p := range r.params("query") {
		typ := schemaType(p.Schema.Value)
		var values []string
		switch {
		case typ == "integer":
			values = []string{"-1", "0", "abc", "1.5", twoTo63, "99999999999"}
		case isDateParam(p.Name):
			values = []string{"garbage", "2026-13-45", "20260101", strings.Repeat("9", 1000)}
		case p.Name == "starting_after":
			values = []string{"garbage", strings.Repeat("z", 1000)}
		case p.Name == "order_id" || p.Name == "wallet_id":
			values = []string{"garbage", strings.Repeat("z", 1000)}
		case p.Name == "terminal_id":
			values = []string{strings.Repeat("z", 33), "tab\there"}
		case p.Name == "status" || p.Name == "type" || p.Name == "format" || p.Name == "rule":
			values = []string{"garbage"}
		default:
			return nil, fmt.Errorf("query parameter %s: this test does not know what a bad value is", p.Name)
		}
		for _, v := range values {
			q := url.Values{}
			q.Set(p.Name, v)
			for _, other := range r.params("query") {
				if other.Required && other.Name != p.Name {
					q.Set(other.Name, w.date)
				}
			}
			add(fmt.Sprintf("query %s=%.20s", p.Name, v), func(c *call) { c.Path = path + "?" + q.Encode() })
		}
		if p.Required {
			add("query "+p.Name+" missing", func(c *call) {})
		}
	}
	return calls, nil
}

func isDateParam(name string) bool {
	return name == "from" || name == "to" || name == "date"
}

func schemaType(s *openapi3.Schema) string {
	if s == nil || s.Type == nil || len(*s.Type) == 0 {
		return ""
	}
	return (*s.Type)[0]
}

func sortedKeys(m openapi3.Schemas) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// otherCase is the body with its first field's name in upper case, which
// encoding/json would match to the field all the same.
func otherCase(body map[string]any) []byte {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := map[string]any{}
	for k, v := range body {
		if k == keys[0] {
			k = strings.ToUpper(k)
		}
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}
