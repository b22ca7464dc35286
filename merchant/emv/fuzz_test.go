package emv

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it decodes
// re-encodes to the very same bytes: nothing is lost, reordered or
// normalised, except the case of the CRC's hex digits. A random mutation
// almost always breaks the CRC, so each input is also tried with its CRC
// repaired, which lets the fuzzer reach the template and field rules.
func FuzzDecode(f *testing.F) {
	for _, g := range loadGolden(f) {
		f.Add(g.Payload)
	}
	f.Add(withCRC(strings.Join(pix, "")))
	f.Add(pixWith("64210002ZH0105北京咖啡馆0202北京"))
	f.Add(pixWith("5900"))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		checkRoundTrip(t, s)
		checkRoundTrip(t, repairCRC(s))
	})
}

// repairCRC gives s a correct CRC: it replaces the value of a trailing CRC
// object, or appends one.
func repairCRC(s string) string {
	if n := len(s); n >= 8 && s[n-8:n-4] == "6304" {
		s = s[:n-8]
	}
	return withCRC(s)
}

func checkRoundTrip(t *testing.T, s string) {
	p, err := Decode(s)
	if p == nil {
		if err == nil {
			t.Fatalf("Decode(%q) = nil, nil", s)
		}
		return
	}
	var de *DecodeError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("Decode(%q) error %T; want *DecodeError", s, err)
	}
	if n := len(p.Fields); n == 0 || p.Fields[n-1].Tag != "63" {
		t.Fatalf("Decode(%q) returned a payload without a final 63: %+v", s, p.Fields)
	}
	enc, encErr := Encode(p.Fields[:len(p.Fields)-1])
	if encErr != nil {
		// Only an empty value frames fine but cannot be written, and
		// Decode must have objected to the payload (though perhaps first
		// to an earlier object).
		if err == nil || !errors.Is(encErr, ErrLength) || !hasEmpty(p.Fields) {
			t.Fatalf("Encode(Decode(%q).Fields) error = %v; Decode error = %v", s, encErr, err)
		}
		return
	}
	body := len(s) - 4
	if len(enc) != len(s) || enc[:body] != s[:body] || !strings.EqualFold(enc[body:], s[body:]) {
		t.Fatalf("Encode(Decode(%q).Fields) = %q; want the input", s, enc)
	}
}

func hasEmpty(fields []Field) bool {
	for _, f := range fields {
		if f.Value == "" || hasEmpty(f.Fields) {
			return true
		}
	}
	return false
}
