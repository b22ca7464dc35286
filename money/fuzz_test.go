package money

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, accepts only unsigned decimals
// (digits and at most one point, no sign, no exponent), never reads a
// negative amount, and agrees with Format: an amount it reads is the one
// Format writes, read back.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"12.00", "0.05", "0", "500", "1.234", "12.", "12.5", ".5", "-1.00", "+1", "1e3",
		"9223372036854775807", "92233720368547758.07", "92233720368547758.08", " 1", "1_000", "0x10"} {
		for _, code := range []string{"CNY", "JPY", "KWD"} {
			f.Add(s, code)
		}
	}
	f.Add("12", "XXX")
	f.Fuzz(func(t *testing.T, s, code string) {
		v, err := Parse(s, code)
		if err != nil {
			return
		}
		c, ok := Lookup(code)
		if !ok {
			t.Fatalf("Parse(%q, %q) = %d; want an error for an unknown currency", s, code, v)
		}
		whole, frac, _ := strings.Cut(s, ".")
		if !allDigits(whole) || strings.Trim(frac, "0123456789") != "" || len(frac) > c.Exponent {
			t.Fatalf("Parse(%q, %s) = %d; want an error: not an unsigned decimal with at most %d places", s, code, v, c.Exponent)
		}
		if v < 0 {
			t.Fatalf("Parse(%q, %s) = %d; want a non-negative amount", s, code, v)
		}
		text := Format(v, code)
		if back, err := Parse(text, code); err != nil || back != v {
			t.Fatalf("Parse(Format(%d, %s) = %q) = %d, %v; want %d", v, code, text, back, err, v)
		}
	})
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
