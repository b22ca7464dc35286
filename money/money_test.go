package money

import (
	"math"
	"testing"
)

func TestFormatAndParse(t *testing.T) {
	tests := []struct {
		minor int64
		code  string
		text  string
	}{
		{1200, "CNY", "12.00"}, {5, "CNY", "0.05"}, {0, "USD", "0.00"},
		{500, "JPY", "500"}, {1234, "KWD", "1.234"}, {100000000000, "CNY", "1000000000.00"},
	}
	for _, tt := range tests {
		if got := Format(tt.minor, tt.code); got != tt.text {
			t.Errorf("Format(%d, %s) = %q; want %q", tt.minor, tt.code, got, tt.text)
		}
		if got, err := Parse(tt.text, tt.code); err != nil || got != tt.minor {
			t.Errorf("Parse(%q, %s) = %d, %v; want %d", tt.text, tt.code, got, err, tt.minor)
		}
	}
	for minor, want := range map[int64]string{-5: "-0.05", -500: "-5.00", -1234: "-12.34", math.MinInt64: "-92233720368547758.08"} {
		if got := Format(minor, "CNY"); got != want {
			t.Errorf("Format(%d, CNY) = %q; want %q", minor, got, want)
		}
	}
	for _, tt := range []struct{ text, code string }{
		{"12.345", "CNY"}, {"12.5", "JPY"}, {".5", "CNY"}, {"-1.00", "CNY"}, {"1e3", "CNY"}, {"12", "XXX"}, {"+1", "CNY"}, {"-0", "JPY"},
	} {
		if got, err := Parse(tt.text, tt.code); err == nil {
			t.Errorf("Parse(%q, %s) = %d; want an error", tt.text, tt.code, got)
		}
	}
	if got, _ := Parse("12.5", "CNY"); got != 1250 {
		t.Errorf(`Parse("12.5", CNY) = %d; want 1250`, got)
	}
	if c, ok := ByNumeric("156"); !ok || c.Code != "CNY" {
		t.Errorf("ByNumeric(156) = %+v, %v; want CNY", c, ok)
	}
}
