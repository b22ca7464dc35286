package gateway

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/errs"
)

func TestStatusTableIsComplete(t *testing.T) {
	doc, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range errs.All {
		status, ok := statusOf[code]
		if !ok {
			t.Errorf("code %q has no HTTP status", code)
			continue
		}
		row := "| `" + string(code) + "` | " + strconv.Itoa(status) + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/errors.md lacks the row %q", row)
		}
	}
	if len(statusOf) != len(errs.All) {
		t.Errorf("status table has %d codes; errs.All has %d", len(statusOf), len(errs.All))
	}
}

func TestDecodeStrict(t *testing.T) {
	type body struct {
		Amount int64  `json:"amount"`
		Note   string `json:"note,omitempty"`
	}
	tests := []struct {
		in   string
		want string // "" for success, else a fragment of the message
	}{
		{`{"amount": 5, "note": "x"}`, ""},
		{`{"amount": 5}   `, ""},
		{``, "empty"},
		{`{"amount": 5`, "truncated"},
		{`{"amount": "5"}`, "field amount must be a number"},
		{`{"amount": 5.5}`, "field amount must be a number"},
		{`{"amount": 5, "extra": 1}`, `unknown field "extra"`},
		{`{"amount": 5} {"amount": 6}`, "after the JSON object"},
		{`{"amount": 5} x`, "after the JSON object"},
		{`[1]`, "must be a JSON object"},
		{`null`, "must be a JSON object"},
		{` 5`, "must be a JSON object"},
		{`{"amount": 99999999999999999999}`, "field amount must be a number"},
		{`{amount: 5}`, "malformed JSON"},
	}
	for _, tt := range tests {
		var b body
		err := decodeStrict([]byte(tt.in), &b)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("decodeStrict(%q) = %v; want success", tt.in, err)
		case tt.want != "" && (err == nil || !errs.Is(err, errs.InvalidJSON) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("decodeStrict(%q) = %v; want invalid_json mentioning %q", tt.in, err, tt.want)
		}
	}
}

// TestDecodeStrictHoldsTheDocument: what encoding/json lets through but the
// OpenAPI document forbids is refused, naming the field.
func TestDecodeStrictHoldsTheDocument(t *testing.T) {
	type body struct {
		Amount int64    `json:"amount"`
		Note   string   `json:"note,omitempty"`
		Limit  *int64   `json:"limit,omitempty"`
		Tags   []string `json:"tags,omitempty"`
	}
	tests := []struct {
		in   string
		code errs.Code // "" for success
		want string
	}{
		{`{"amount": 5, "limit": null}`, "", ""},
		{`{"note": "x"}`, errs.Invalid, "field amount is required"},
		{`{"amount": null}`, errs.Invalid, "field amount must not be null"},
		{`{"amount": 5, "note": null}`, errs.Invalid, "field note must not be null"},
		{`{"amount": 5, "tags": null}`, errs.Invalid, "field tags must not be null"},
		{`{"Amount": 5}`, errs.InvalidJSON, `unknown field "Amount"`},
		{`{"amount": 5, "note": "caf` + "\xff" + `"}`, errs.InvalidJSON, "not valid UTF-8"},
		{`{"\u0061mount": 5}`, "", ""},
	}
	for _, tt := range tests {
		in := tt.in
		var b body
		err := decodeStrict([]byte(in), &b)
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("decodeStrict(%q) = %v; want success", in, err)
		case tt.code != "" && (err == nil || !errs.Is(err, tt.code) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("decodeStrict(%q) = %v; want %s mentioning %q", in, err, tt.code, tt.want)
		}
	}
}
