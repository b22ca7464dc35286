package emv

import "unicode/utf8"

// fieldRule is a row of the specification's data object table: the length
// range of a value in characters and, optionally, a content check.
type fieldRule struct {
	min, max int
	content  func(string) bool
	want     string // what content expects, for the error message
}

var (
	digitsRule  = fieldRule{content: isDigits, want: "digits"}
	decimalRule = fieldRule{content: isDecimal, want: "an unsigned decimal such as 23.72"}
)

func (r fieldRule) sized(min, max int) fieldRule { r.min, r.max = min, max; return r }

// MaxAmountLength is the most characters the transaction amount (54) and
// the fixed convenience fee (56) may have: "9999999999.99".
const MaxAmountLength = 13

// rootRules holds the rules of the primitive root objects. 00, 01 and 55
// take one of a few values and are checked by oneOf instead.
var rootRules = map[string]fieldRule{
	"52": digitsRule.sized(4, 4),
	"53": digitsRule.sized(3, 3),
	"54": decimalRule.sized(1, MaxAmountLength),
	"56": decimalRule.sized(1, MaxAmountLength),
	"57": decimalRule.sized(1, 5),
	"58": {min: 2, max: 2},
	"59": {min: 1, max: 25},
	"60": {min: 1, max: 15},
	"61": {min: 1, max: 10},
}

// languageRules holds the rules of the sub-objects of template 64.
var languageRules = map[string]fieldRule{
	"00": {min: 2, max: 2},
	"01": {min: 1, max: 25},
	"02": {min: 1, max: 15},
}

// oneOf lists the root objects restricted to a fixed set of values.
var oneOf = map[string][]string{
	"00": {"01"},
	"01": {"11", "12"},
	"55": {"01", "02", "03"},
}

// required lists the mandatory root objects in ID order, each as a range of
// IDs of which one must be present: any merchant account 02–51 will do.
var required = []struct {
	from, to  int
	tag, name string
}{
	{0, 0, "00", "payload format indicator"},
	{2, 51, "02-51", "merchant account information (IDs 02 to 51)"},
	{52, 52, "52", "merchant category code"},
	{53, 53, "53", "transaction currency"},
	{58, 58, "58", "country code"},
	{59, 59, "59", "merchant name"},
	{60, 60, "60", "merchant city"},
}

// Problems lists every way p breaks the specification's field rules, each
// a *DecodeError wrapping ErrLength, ErrFormat or ErrMissingTag: first the
// objects' own problems in payload order (at most one per object), then the
// absent mandatory objects in ID order, then a fee that 55 announces but
// does not carry. The rules: 00 is first and "01"; 01 is "11" or "12"; 52
// is four digits; 53 three digits; 54, 56 and 57 are unsigned decimals of
// at most 13, 13 and 5 characters; 55 is "01", "02" or "03"; 58 has two
// characters, 59 at most 25, 60 at most 15, 61 at most 10; no value is
// empty; every merchant account template 26–51 and unreserved template
// 80–99 has a globally unique identifier (sub-ID 00); 64 has 00 (two
// characters), 01 (at most 25) and optionally 02 (at most 15); and 00, 52,
// 53, 58, 59, 60 and at least one merchant account object 02–51 are
// present. Offsets are those of the payload p.Fields encodes, which for a
// parsed payload is the input.
func (p *Payload) Problems() []*DecodeError {
	var (
		problems []*DecodeError
		present  [100]bool
		off      int
	)
	for i, f := range p.Fields {
		present[tagNum(f.Tag)] = true
		if err := checkObject(f, off, i == 0); err != nil {
			problems = append(problems, err)
		}
		off += 4 + len(f.Value)
	}
next:
	for _, r := range required {
		for n := r.from; n <= r.to; n++ {
			if present[n] {
				continue next
			}
		}
		problems = append(problems, errorAt(-1, r.tag, ErrMissingTag, "missing %s", r.name))
	}
	// 55 says how the tip or fee is given; the fee itself must then be there.
	for _, f := range p.Fields {
		if f.Tag != "55" {
			continue
		}
		if f.Value == "02" && !present[56] {
			problems = append(problems, errorAt(-1, "56", ErrMissingTag, "missing fixed convenience fee required by 55 = 02"))
		}
		if f.Value == "03" && !present[57] {
			problems = append(problems, errorAt(-1, "57", ErrMissingTag, "missing convenience fee percentage required by 55 = 03"))
		}
	}
	return problems
}

// checkObject applies the rules of one root object at byte offset off.
func checkObject(f Field, off int, first bool) *DecodeError {
	if f.Value == "" {
		return errorAt(off, f.Tag, ErrLength, "empty value (length 00)")
	}
	subOffs := make([]int, len(f.Fields))
	subOff := off + 4
	for j, sub := range f.Fields {
		subOffs[j] = subOff
		if sub.Value == "" {
			return errorAt(subOff, join(f.Tag, sub.Tag), ErrLength, "empty value (length 00)")
		}
		subOff += 4 + len(sub.Value)
	}
	if f.Tag == "00" && !first {
		return errorAt(off, f.Tag, ErrFormat, "payload format indicator must be the first object")
	}
	if values, ok := oneOf[f.Tag]; ok {
		for _, v := range values {
			if f.Value == v {
				return nil
			}
		}
		return errorAt(off, f.Tag, ErrFormat, "value %q is not one of %q", f.Value, values)
	}
	if r, ok := rootRules[f.Tag]; ok {
		return r.check(f.Value, off, f.Tag)
	}
	switch n := tagNum(f.Tag); {
	case n >= 26 && n <= 51, n >= 80:
		// The GUID says which network owns the template; without it no
		// app can tell whose data the template holds.
		if _, ok := lookup(f.Fields, "00"); !ok {
			return errorAt(off, f.Tag, ErrMissingTag, "template has no globally unique identifier (sub-object 00)")
		}
	case n == 64:
		return checkLanguage(f, off, subOffs)
	}
	return nil
}

func checkLanguage(f Field, off int, subOffs []int) *DecodeError {
	for j, sub := range f.Fields {
		if r, ok := languageRules[sub.Tag]; ok {
			if err := r.check(sub.Value, subOffs[j], join(f.Tag, sub.Tag)); err != nil {
				return err
			}
		}
	}
	for _, tag := range []string{"00", "01"} {
		if _, ok := lookup(f.Fields, tag); !ok {
			return errorAt(off, f.Tag, ErrMissingTag, "language template lacks sub-object %s", tag)
		}
	}
	return nil
}

func (r fieldRule) check(value string, off int, tag string) *DecodeError {
	n := utf8.RuneCountInString(value)
	switch {
	case r.min == r.max && n != r.min:
		return errorAt(off, tag, ErrLength, "length %d, want %d", n, r.min)
	case n > r.max:
		return errorAt(off, tag, ErrLength, "length %d exceeds %d", n, r.max)
	case n < r.min:
		return errorAt(off, tag, ErrLength, "length %d is under %d", n, r.min)
	}
	if r.content != nil && !r.content(value) {
		return errorAt(off, tag, ErrFormat, "value %q is not %s", value, r.want)
	}
	return nil
}

// isDecimal accepts digits with at most one '.', and at least one digit:
// the specification's amount format, which has no sign and no grouping.
func isDecimal(s string) bool {
	dot, digits := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
