package emv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// golden is one published third-party payload from testdata/payloads.json.
type golden struct {
	Name    string            `json:"name"`
	Source  string            `json:"source"`
	Payload string            `json:"payload"`
	Want    map[string]string `json:"want"` // nil: Decode must return no Payload
	Err     string            `json:"err"`  // sentinel name, "" for none
}

func loadGolden(t testing.TB) []golden {
	t.Helper()
	b, err := os.ReadFile("testdata/payloads.json")
	if err != nil {
		t.Fatal(err)
	}
	var gs []golden
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	return gs
}

var sentinels = map[string]error{
	"ErrTruncated": ErrTruncated, "ErrSyntax": ErrSyntax, "ErrLength": ErrLength, "ErrCRC": ErrCRC,
	"ErrDuplicateTag": ErrDuplicateTag, "ErrMissingTag": ErrMissingTag, "ErrFormat": ErrFormat,
}

// fieldOf reads the decoded value a golden file key names.
func fieldOf(p *Payload, key string) string {
	switch key {
	case "initiation":
		return p.Initiation
	case "dynamic":
		return strconv.FormatBool(p.Dynamic())
	case "accounts":
		return tagList(p.Accounts)
	case "unreserved":
		return tagList(p.Unreserved)
	case "guid":
		for _, a := range p.Accounts {
			if a.GUID != "" {
				return a.GUID
			}
		}
		return ""
	case "mcc":
		return p.MCC
	case "currency":
		return p.Currency
	case "amount":
		return p.Amount
	case "tip":
		return p.TipIndicator
	case "fixed":
		return p.TipFixed
	case "percent":
		return p.TipPercent
	case "country":
		return p.Country
	case "name":
		return p.Name
	case "city":
		return p.City
	case "postal":
		return p.PostalCode
	case "crc":
		return p.CRC
	}
	if a := p.Additional; a != nil {
		switch key {
		case "bill":
			return a.BillNumber
		case "mobile":
			return a.MobileNumber
		case "reference":
			return a.ReferenceLabel
		case "terminal":
			return a.TerminalLabel
		case "purpose":
			return a.Purpose
		case "consumer":
			return a.ConsumerDataRequest
		case "additional.other":
			return fieldTags(a.Other)
		}
	}
	if l := p.Language; l != nil {
		switch key {
		case "language":
			return l.Preference
		case "altname":
			return l.Name
		case "altcity":
			return l.City
		case "language.other":
			return fieldTags(l.Other)
		}
	}
	if tag, ok := strings.CutPrefix(key, "tag"); ok {
		v, _ := lookup(p.Fields, tag)
		return v
	}
	return "<unknown key " + key + ">"
}

func tagList(as []Account) string {
	tags := make([]string, len(as))
	for i, a := range as {
		tags[i] = a.Tag
	}
	return strings.Join(tags, ",")
}

func fieldTags(fs []Field) string {
	tags := make([]string, len(fs))
	for i, f := range fs {
		tags[i] = f.Tag
	}
	return strings.Join(tags, ",")
}

func TestDecodePublishedPayloads(t *testing.T) {
	for _, g := range loadGolden(t) {
		t.Run(g.Name, func(t *testing.T) {
			// Only payloads whose printed CRC is right belong in the file.
			body, crc := g.Payload[:len(g.Payload)-4], g.Payload[len(g.Payload)-4:]
			if got := fmt.Sprintf("%04X", CRC16([]byte(body))); got != crc {
				t.Fatalf("CRC16(%q) = %s; want the published %s", body, got, crc)
			}

			p, err := Decode(g.Payload)
			if want := sentinels[g.Err]; !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("Decode(%q) error = %v; want %s", g.Payload, err, g.Err)
			}
			if g.Want == nil {
				if p != nil {
					t.Fatalf("Decode(%q) = %+v with error %v; want no payload", g.Payload, p, err)
				}
				return
			}
			if p == nil {
				t.Fatalf("Decode(%q) = nil, %v; want a payload", g.Payload, err)
			}
			for key, want := range g.Want {
				if got := fieldOf(p, key); got != want {
					t.Errorf("Decode(%q): %s = %q; want %q", g.Payload, key, got, want)
				}
			}
			if guid := g.Want["guid"]; guid != "" {
				if a, ok := p.Account(strings.ToLower(guid)); !ok || a.GUID != guid {
					t.Errorf("Account(%q) = %+v, %t; want the %s template", strings.ToLower(guid), a, ok, guid)
				}
			}
		})
	}
}

// pix holds the objects of the BCB static PIX example, so each negative
// case below changes one thing.
var pix = []string{
	"000201",
	"26580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000",
	"52040000",
	"5303986",
	"5802BR",
	"5913Fulano de Tal",
	"6008BRASILIA",
	"62070503***",
}

// withCRC appends a correct CRC object to body.
func withCRC(body string) string {
	body += "6304"
	return body + fmt.Sprintf("%04X", CRC16([]byte(body)))
}

// pixWith returns the PIX example with each given object replacing the one
// with the same ID, or inserted before 62 if there is none; "-NN" removes
// object NN. The CRC is recomputed, so only the change is under test.
func pixWith(objects ...string) string {
	out := append([]string(nil), pix...)
	for _, o := range objects {
		id, drop := strings.CutPrefix(o, "-")
		found := false
		for i, p := range out {
			if p[:2] == id[:2] {
				out[i], found = o, true
				if drop {
					out[i] = ""
				}
			}
		}
		if !found {
			out = append(out[:len(out)-1:len(out)-1], o, out[len(out)-1])
		}
	}
	return withCRC(strings.Join(out, ""))
}

func TestDecodeErrors(t *testing.T) {
	valid := withCRC(strings.Join(pix, ""))
	body := valid[:len(valid)-8]
	tests := []struct {
		name    string
		in      string
		want    error // nil: must decode cleanly
		payload bool  // a rule error still returns the decoded payload
	}{
		{"published example", valid, nil, true},
		{"lowercase hex CRC accepted", body + "63041d3d", nil, true},
		{"bad CRC", body + "63041D3E", ErrCRC, false},
		{"CRC not hex", body + "6304XYZW", ErrCRC, false},
		{"CRC not last", valid + "5802BR", ErrCRC, false},
		{"two CRC objects", valid + "63041D3D", ErrCRC, false},
		{"missing CRC", body, ErrMissingTag, false},
		{"empty input", "", ErrMissingTag, false},
		{"CRC length 05", body + "63051D3D0", ErrLength, false},
		{"CRC value truncated", body + "63041D3", ErrTruncated, false},
		{"truncated in a header", "000", ErrTruncated, false},
		{"truncated in a value", valid[:40], ErrTruncated, false},
		{"truncated in a template", pixWith("62060503**"), ErrTruncated, false},
		{"length past the end", "000201" + "5920Fulano", ErrTruncated, false},
		{"name length one too long", pixWith("5914Fulano de Tal"), ErrSyntax, false},
		{"non-digit length", withCRC("00O201"), ErrSyntax, false},
		{"non-digit ID", withCRC("0A0201"), ErrSyntax, false},
		{"invalid UTF-8", pixWith("5913Fulano de T\xffl"), ErrSyntax, false},
		{"duplicate top-level tag", withCRC(strings.Join(pix, "") + "5802BR"), ErrDuplicateTag, false},
		{"duplicate sub-tag in a template", pixWith("26280014br.gov.bcb.pix0101a0101b"), ErrDuplicateTag, false},
		{"00 not first", withCRC(strings.Join(append(pix[1:2:2], pix[0]), "") + strings.Join(pix[2:], "")), ErrFormat, true},
		{"format indicator 02", pixWith("000202"), ErrFormat, true},
		{"missing 00", pixWith("-00"), ErrMissingTag, true},
		{"missing 59", pixWith("-59"), ErrMissingTag, true},
		{"missing 52", pixWith("-52"), ErrMissingTag, true},
		{"missing merchant account", pixWith("-26"), ErrMissingTag, true},
		{"template without GUID", pixWith("26400136123e4567-e12b-12d1-a456-426655440000"), ErrMissingTag, true},
		{"empty value", pixWith("5900"), ErrLength, true},
		{"empty sub-value", pixWith("62040500"), ErrLength, true},
		{"name of 25 characters", pixWith("5925" + strings.Repeat("N", 25)), nil, true},
		{"name of 26 characters", pixWith("5926" + strings.Repeat("N", 26)), ErrLength, true},
		{"city of 16 characters", pixWith("6016" + strings.Repeat("C", 16)), ErrLength, true},
		{"amount", pixWith("540612.345"), nil, true},
		{"amount 12.3.4", pixWith("540612.3.4"), ErrFormat, true},
		{"amount of 13 characters", pixWith("54131234567890.12"), nil, true},
		{"amount of 14 characters", pixWith("541412345678901.23"), ErrLength, true},
		{"negative amount", pixWith("5405-1.00"), ErrFormat, true},
		{"amount without digits", pixWith("5401."), ErrFormat, true},
		{"initiation 12", pixWith("010212"), nil, true},
		{"initiation 13", pixWith("010213"), ErrFormat, true},
		{"MCC of 3 digits", pixWith("5203000"), ErrLength, true},
		{"MCC of letters", pixWith("5204ABCD"), ErrFormat, true},
		{"currency of letters", pixWith("5303BRL"), ErrFormat, true},
		{"country of 3 characters", pixWith("5803BRA"), ErrLength, true},
		{"tip indicator 04", pixWith("550204"), ErrFormat, true},
		{"fixed fee announced but absent", pixWith("550202"), ErrMissingTag, true},
		{"fixed fee present", pixWith("550202", "56031.5"), nil, true},
		{"language template", pixWith("64210002ZH0105北京咖啡馆0202北京"), nil, true},
		{"language without name", pixWith("64060002ZH"), ErrMissingTag, true},
		{"language preference of 3 characters", pixWith("64150003ZHO0104Café"), ErrLength, true},
		{"unreserved template without GUID", pixWith("80070103abc"), ErrMissingTag, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode(tt.in)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Decode(%q) error = %v; want %v", tt.in, err, tt.want)
			}
			if (p != nil) != tt.payload {
				t.Errorf("Decode(%q) payload = %v; want payload %t", tt.in, p != nil, tt.payload)
			}
			var de *DecodeError
			if err != nil && !errors.As(err, &de) {
				t.Errorf("Decode(%q) error %T; want *DecodeError", tt.in, err)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{pixWith("541412345678901.23"), "emv: tag 54 at offset 118: length 14 exceeds 13"},
		{"00020101021129370016A000000677010111011300668012345675802TH53037646304619A",
			"emv: tag 63 at offset 66: CRC 619A does not match computed 6197"},
		{pixWith("-59"), "emv: tag 59: missing merchant name"},
		{pixWith("26280014br.gov.bcb.pix0101a0101b"), "emv: tag 26.01 at offset 33: ID occurs again (first at offset 28)"},
		{pixWith("64060002ZH"), "emv: tag 64 at offset 118: language template lacks sub-object 01"},
	}
	for _, tt := range tests {
		if _, err := Decode(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("Decode(%q) error = %v; want %q", tt.in, err, tt.want)
		}
	}
}

func TestAccountLookup(t *testing.T) {
	p, err := Decode("00020104141234567890123426660014BR.GOV.BCB.PIX014466756C616E6F32303139406578616D706C652E636F6D27300012BR.COM.OUTRO011001234567895204000053039865406123.455802BR5915NOMEDORECEBEDOR6008BRASILIA61087007490062530515RP12345678-201950300017BR.GOV.BCB.BRCODE01051.0.080450014BR.GOV.BCB.PIX0123PADRAO.URL.PIX/0123ABCD81390012BR.COM.OUTRO01190123.ABCD.3456.WXYZ6304EB76")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		guid, tag string // tag "" means not found
	}{
		{"br.gov.bcb.pix", "26"}, // the first of 26 and 80
		{"BR.COM.OUTRO", "27"},
		{"", ""}, // primitive account 04 has no GUID
		{"br.gov.bcb.brcode", ""},
	}
	for _, tt := range tests {
		a, ok := p.Account(tt.guid)
		if ok != (tt.tag != "") || a.Tag != tt.tag {
			t.Errorf("Account(%q) = %q, %t; want %q", tt.guid, a.Tag, ok, tt.tag)
		}
	}
}

func TestParseSeparatesStructureFromConformance(t *testing.T) {
	valid := withCRC(strings.Join(pix, ""))
	body := valid[:len(valid)-8]
	tests := []struct {
		name       string
		in         string
		structural error    // what Parse returns
		problems   []string // what Problems lists, in order
	}{
		{name: "published example", in: valid},
		{name: "bad CRC", in: body + "63041D3E", structural: ErrCRC},
		{name: "truncated", in: valid[:40], structural: ErrTruncated},
		{name: "duplicate tag", in: withCRC(strings.Join(pix, "") + "5802BR"), structural: ErrDuplicateTag},
		{name: "missing CRC", in: body, structural: ErrMissingTag},
		{
			name: "PromptPay without 52, 59 and 60",
			in:   "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
			problems: []string{
				"emv: tag 52: missing merchant category code",
				"emv: tag 59: missing merchant name",
				"emv: tag 60: missing merchant city",
			},
		},
		{
			name: "every object's problem, then the missing ones",
			in: withCRC("000201" + "010213" + pix[1] + "5204ABCD" + "5303986" + "541412345678901.23" +
				"550202" + "5802BR" + "6008BRASILIA" + pix[7]),
			problems: []string{
				`emv: tag 01 at offset 6: value "13" is not one of ["11" "12"]`,
				`emv: tag 52 at offset 74: value "ABCD" is not digits`,
				"emv: tag 54 at offset 89: length 14 exceeds 13",
				"emv: tag 59: missing merchant name",
				"emv: tag 56: missing fixed convenience fee required by 55 = 02",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			if !errors.Is(err, tt.structural) || (tt.structural == nil) != (err == nil) {
				t.Fatalf("Parse(%q) error = %v; want %v", tt.in, err, tt.structural)
			}
			if err != nil {
				if p != nil {
					t.Errorf("Parse(%q) = %+v with a structural error; want no payload", tt.in, p)
				}
				return
			}
			var got []string
			for _, pr := range p.Problems() {
				got = append(got, pr.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.problems, "\n") {
				t.Errorf("Parse(%q).Problems() =\n%s\nwant\n%s", tt.in, strings.Join(got, "\n"), strings.Join(tt.problems, "\n"))
			}
			// Decode is the strict reading: the first problem, or none.
			_, derr := Decode(tt.in)
			if len(tt.problems) == 0 && derr != nil || len(tt.problems) > 0 && (derr == nil || derr.Error() != tt.problems[0]) {
				t.Errorf("Decode(%q) error = %v; want the first problem", tt.in, derr)
			}
		})
	}
}
