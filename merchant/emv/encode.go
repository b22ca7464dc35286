package emv

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxLength is the largest value a two-digit length can describe.
const maxLength = 99

// Field is one ID/length/value data object. Tag is its two-digit ID.
//
// For a template (26–51, 62, 64, 80–99) Decode sets Fields to the nested
// objects and keeps the raw template value in Value. Encode does the reverse:
// when Fields is non-empty it writes the template from Fields and ignores
// Value, so a caller building a payload only fills one of the two.
type Field struct {
	Tag    string
	Value  string
	Fields []Field
}

// Encode writes fields in the given order and appends the CRC object
// "6304" plus four upper-case hex digits. Lengths count characters, not
// bytes. It refuses what would make a malformed payload: a tag that is not
// two digits, a caller-supplied tag 63, a tag repeated at the same level, an
// empty value, a value over 99 characters or one that is not UTF-8.
//
// Encode does not check the specification's field rules (mandatory objects,
// amount format, name length); Decode the result to check those.
func Encode(fields []Field) (string, error) {
	var b strings.Builder
	if err := encodeFields(&b, fields, ""); err != nil {
		return "", err
	}
	b.WriteString("6304")
	fmt.Fprintf(&b, "%04X", CRC16([]byte(b.String())))
	return b.String(), nil
}

// encodeFields writes fields to b; parent is the enclosing template's path,
// empty at the top level, and only names errors.
func encodeFields(b *strings.Builder, fields []Field, parent string) error {
	var seen [100]bool
	for _, f := range fields {
		path := join(parent, f.Tag)
		if !isDigits(f.Tag) || len(f.Tag) != 2 {
			return fmt.Errorf("emv: encode tag %q: ID must be two digits: %w", path, ErrFormat)
		}
		if parent == "" && f.Tag == "63" {
			return fmt.Errorf("emv: encode tag 63: the CRC is computed by Encode: %w", ErrFormat)
		}
		n := tagNum(f.Tag)
		if seen[n] {
			return fmt.Errorf("emv: encode tag %s: occurs twice: %w", path, ErrDuplicateTag)
		}
		seen[n] = true

		value := f.Value
		if len(f.Fields) > 0 {
			var sub strings.Builder
			if err := encodeFields(&sub, f.Fields, path); err != nil {
				return err
			}
			value = sub.String()
		}
		if !utf8.ValidString(value) {
			return fmt.Errorf("emv: encode tag %s: value is not valid UTF-8: %w", path, ErrFormat)
		}
		length := utf8.RuneCountInString(value)
		switch {
		case length == 0:
			return fmt.Errorf("emv: encode tag %s: empty value: %w", path, ErrLength)
		case length > maxLength:
			return fmt.Errorf("emv: encode tag %s: length %d exceeds %d: %w", path, length, maxLength, ErrLength)
		}
		b.WriteString(f.Tag)
		b.WriteByte(byte('0' + length/10))
		b.WriteByte(byte('0' + length%10))
		b.WriteString(value)
	}
	return nil
}

// join names a sub-object by its template, e.g. "62.05".
func join(parent, tag string) string {
	if parent == "" {
		return tag
	}
	return parent + "." + tag
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// tagNum converts a two-digit ID already checked by isDigits.
func tagNum(tag string) int {
	return int(tag[0]-'0')*10 + int(tag[1]-'0')
}
