package emv

import (
	"strconv"
	"unicode/utf8"
)

// Decode parses and checks an MPM payload strictly: it is Parse followed by
// Problems, and returns the first problem as its error. A payload that
// breaks the structure (see Parse) comes back nil. A payload that is sound
// but breaks only a field rule comes back decoded, together with that first
// violation. Such codes circulate — PromptPay and VietQR person-to-person
// codes omit 52, 59 and 60 — and a caller that must accept them can use the
// Payload; a strict caller checks err alone.
func Decode(s string) (*Payload, error) {
	p, err := Parse(s)
	if err != nil {
		return nil, err
	}
	if problems := p.Problems(); len(problems) > 0 {
		return p, problems[0]
	}
	return p, nil
}

// Parse reads the structure of an MPM payload and nothing else: every ID and
// length is two digits, every value is UTF-8 and ends where its length (in
// characters) says, no ID is repeated at the same level, the templates
// 26–51, 62, 64 and 80–99 parse as data objects, and the last object is 63
// with length 04 and the correct CRC (hex digits in either case). If any of
// that fails, Parse returns a nil Payload and a *DecodeError locating the
// failure. A payload that Parse returns can be read and re-encoded; whether
// it obeys the specification's field rules is for Problems to say.
func Parse(s string) (*Payload, error) {
	fields, offs, err := parseObjects(s, 0, "")
	if err != nil {
		return nil, err
	}
	last := len(fields) - 1
	if last < 0 || fields[last].Tag != "63" {
		return nil, errorAt(len(s), "63", ErrMissingTag, "no CRC object: the payload must end with 63")
	}
	if err := checkCRC(s, fields[last].Value, offs[last]); err != nil {
		return nil, err
	}
	for i := range fields {
		if !isTemplate(fields[i].Tag) {
			continue
		}
		subs, _, err := parseObjects(fields[i].Value, offs[i]+4, fields[i].Tag)
		if err != nil {
			return nil, err
		}
		fields[i].Fields = subs
	}
	return newPayload(fields), nil
}

// parseObjects splits s into data objects. base is the byte offset of s in
// the payload, so errors point into the original string, and parent is the
// enclosing template ("" at the top level). At the top level the CRC object
// must have length 04 and end the input; it is checked here, while reading,
// so that whatever follows it is reported as a misplaced CRC rather than as
// whatever syntax error the trailing bytes happen to contain.
func parseObjects(s string, base int, parent string) ([]Field, []int, error) {
	var (
		fields []Field
		offs   []int
		first  [100]int // offset+1 of each ID's first occurrence
	)
	for i := 0; i < len(s); {
		off := base + i
		if len(s)-i < 4 {
			return nil, nil, errorAt(off, parent, ErrTruncated,
				"input ends inside an object header: %d bytes left, ID and length need 4", len(s)-i)
		}
		tag := s[i : i+2]
		if !isDigits(tag) {
			return nil, nil, errorAt(off, parent, ErrSyntax, "ID %q is not two digits", tag)
		}
		path := join(parent, tag)
		if !isDigits(s[i+2 : i+4]) {
			return nil, nil, errorAt(off, path, ErrSyntax, "length %q is not two digits", s[i+2:i+4])
		}
		n := tagNum(s[i+2 : i+4])
		crc := parent == "" && tag == "63"
		if crc && n != 4 {
			return nil, nil, errorAt(off, path, ErrLength, "CRC length %02d, want 04", n)
		}
		end, err := skipChars(s, i+4, n, base, off, path)
		if err != nil {
			return nil, nil, err
		}
		t := tagNum(tag)
		if first[t] != 0 {
			return nil, nil, errorAt(off, path, ErrDuplicateTag, "ID occurs again (first at offset %d)", first[t]-1)
		}
		first[t] = off + 1
		fields = append(fields, Field{Tag: tag, Value: s[i+4 : end]})
		offs = append(offs, off)
		if crc && end != len(s) {
			return nil, nil, errorAt(off, path, ErrCRC,
				"CRC must be the last object, but %d characters follow it", utf8.RuneCountInString(s[end:]))
		}
		i = end
	}
	return fields, offs, nil
}

// skipChars returns the byte index just past n characters of s starting at
// byte i, failing if s ends first or holds invalid UTF-8.
func skipChars(s string, i, n, base, off int, path string) (int, error) {
	for k := 0; k < n; k++ {
		if i >= len(s) {
			return 0, errorAt(off, path, ErrTruncated, "length %02d runs past the end: only %d characters left", n, k)
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return 0, errorAt(base+i, path, ErrSyntax, "value is not valid UTF-8")
		}
		i += size
	}
	return i, nil
}

// checkCRC verifies the CRC value of the last object, which parseObjects has
// already placed at the end of s with length 04.
func checkCRC(s, value string, off int) error {
	got, err := strconv.ParseUint(value, 16, 16)
	if err != nil || len(value) != 4 {
		return errorAt(off, "63", ErrCRC, "CRC %q is not four hex digits", value)
	}
	want := CRC16([]byte(s[:len(s)-4]))
	if uint16(got) != want {
		return errorAt(off, "63", ErrCRC, "CRC %s does not match computed %04X", value, want)
	}
	return nil
}

// isTemplate reports whether a root ID holds nested data objects.
func isTemplate(tag string) bool {
	n := tagNum(tag)
	return n >= 26 && n <= 51 || n == 62 || n == 64 || n >= 80
}
