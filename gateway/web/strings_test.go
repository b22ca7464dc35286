package web

import (
	"strings"
	"testing"
)

// TestStringTablesAgree: every language has every string, none empty, and
// the same %s placeholders.
func TestStringTablesAgree(t *testing.T) {
	for code, l := range languages {
		for key, en := range english {
			s, ok := l.T[key]
			switch {
			case !ok:
				t.Errorf("%s lacks %q", code, key)
			case s == "":
				t.Errorf("%s: %q is empty", code, key)
			case strings.Count(s, "%") != strings.Count(en, "%"):
				t.Errorf("%s: %q = %q has other placeholders than %q", code, key, s, en)
			}
		}
		for key := range l.T {
			if _, ok := english[key]; !ok {
				t.Errorf("%s has %q, which English lacks", code, key)
			}
		}
	}
}

func TestFromAcceptLanguage(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		{"", "en"},
		{"zh-CN,zh;q=0.9,en;q=0.8", "zh"},
		{"en-US,en;q=0.9,zh-CN;q=0.8", "en"},
		{"fr-FR, zh-TW;q=0.5", "zh"},
		{"de, fr", "en"},
		{"en;q=0.2, zh;q=0.7", "zh"},
		{"zh;q=bad, en", "en"},
	} {
		if got := fromAcceptLanguage(c.header).Code; got != c.want {
			t.Errorf("fromAcceptLanguage(%q) = %s; want %s", c.header, got, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/pay/display/AbC123", "/pay/display/:token"},
		{"/pay/display/AbC123/events", "/pay/display/:token/events"},
		{"/pay/display/AbC123/qr.png", "/pay/display/:token/qr.png"},
		{"/finance/settlements/2026-11-25/file", "/finance/settlements/2026-11-25/file"},
		{"/v1/orders", "/v1/orders"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}
