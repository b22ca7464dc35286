package emv

import (
	"errors"
	"reflect"
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

// FuzzParse checks the structural reader on its own: it never panics, what
// it accepts re-encodes to the input, Decode agrees with it (Decode accepts
// only what Parse accepts, with the same objects), and the CRC does its
// job: changing any one byte of an accepted payload gets it refused, unless
// the change only flips the case of one of the CRC's hex digits.
func FuzzParse(f *testing.F) {
	for _, g := range loadGolden(f) {
		f.Add(g.Payload, uint16(10), byte(1))
	}
	f.Add(withCRC(strings.Join(pix, "")), uint16(0), byte(0x20))
	f.Add(pixWith("64210002ZH0105北京咖啡馆0202北京"), uint16(80), byte(0x80))
	f.Add(pixWith("5900"), uint16(3), byte(0xff))
	f.Add(withCRC("0000"), uint16(1), byte(1))
	f.Add("", uint16(0), byte(0))
	f.Fuzz(func(t *testing.T, s string, pos uint16, flip byte) {
		for _, in := range []string{s, repairCRC(s)} {
			if checkParse(t, in) {
				checkOneByteChange(t, in, int(pos)%len(in), flip)
			}
		}
	})
}

// checkParse reports whether Parse accepts s, after checking that Parse
// and Decode agree and that an accepted payload encodes back to s.
func checkParse(t *testing.T, s string) bool {
	p, err := Parse(s)
	d, derr := Decode(s)
	var de *DecodeError
	if err != nil {
		if p != nil || d != nil || !errors.As(err, &de) {
			t.Fatalf("Parse(%q) = %v, %v; Decode = %v; want nil payloads and a *DecodeError", s, p, err, d)
		}
		if derr == nil {
			t.Fatalf("Decode(%q) accepted what Parse refused: %v", s, err)
		}
		return false
	}
	if p == nil || d == nil {
		t.Fatalf("Parse(%q) = %v, nil; Decode = %v", s, p, d)
	}
	if !reflect.DeepEqual(p.Fields, d.Fields) {
		t.Fatalf("Parse(%q).Fields = %+v; Decode gives %+v", s, p.Fields, d.Fields)
	}
	if problems := p.Problems(); len(problems) == 0 && derr != nil ||
		len(problems) > 0 && (derr == nil || derr.Error() != problems[0].Error()) {
		t.Fatalf("Decode(%q) error = %v; want the first of Problems %v", s, derr, problems)
	}
	n := len(p.Fields)
	if n == 0 || p.Fields[n-1].Tag != "63" || p.CRC != p.Fields[n-1].Value {
		t.Fatalf("Parse(%q) returned a payload without a final 63: %+v", s, p.Fields)
	}
	enc, encErr := Encode(p.Fields[:n-1])
	if encErr != nil {
		// An empty value frames fine but cannot be written.
		if !errors.Is(encErr, ErrLength) || !hasEmpty(p.Fields) {
			t.Fatalf("Encode(Parse(%q).Fields) error = %v", s, encErr)
		}
		return true
	}
	body := len(s) - 4
	if len(enc) != len(s) || enc[:body] != s[:body] || !strings.EqualFold(enc[body:], s[body:]) {
		t.Fatalf("Encode(Parse(%q).Fields) = %q; want the input", s, enc)
	}
	return true
}

// checkOneByteChange XORs the byte at i of an accepted payload with flip.
// CRC-16 detects every error burst of up to 16 bits, so the only accepted
// changes are to the case of a hex letter of the CRC itself.
func checkOneByteChange(t *testing.T, s string, i int, flip byte) {
	if flip == 0 {
		flip = 0x20
	}
	b := []byte(s)
	b[i] ^= flip
	changed := string(b)
	if _, err := Parse(changed); err == nil {
		inCRC := i >= len(s)-4 && strings.EqualFold(changed[i:i+1], s[i:i+1])
		if !inCRC {
			t.Fatalf("Parse accepted %q, which is %q with byte %d changed", changed, s, i)
		}
	}
}
