package emv

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// pixFields are the objects of the BCB static PIX example.
var pixFields = []Field{
	{Tag: "00", Value: "01"},
	{Tag: "26", Fields: []Field{
		{Tag: "00", Value: "br.gov.bcb.pix"},
		{Tag: "01", Value: "123e4567-e12b-12d1-a456-426655440000"},
	}},
	{Tag: "52", Value: "0000"},
	{Tag: "53", Value: "986"},
	{Tag: "58", Value: "BR"},
	{Tag: "59", Value: "Fulano de Tal"},
	{Tag: "60", Value: "BRASILIA"},
	{Tag: "62", Fields: []Field{{Tag: "05", Value: "***"}}},
}

func TestEncodePublishedExample(t *testing.T) {
	const want = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
	if got, err := Encode(pixFields); err != nil || got != want {
		t.Errorf("Encode(PIX example) = %q, %v; want %q", got, err, want)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		fields []Field
		// contains is a piece of the encoding that pins lengths in characters.
		contains string
	}{
		{"static PIX", pixFields, "5913Fulano de Tal"},
		{"dynamic with every kind of object", []Field{
			{Tag: "00", Value: "01"},
			{Tag: "01", Value: "12"},
			{Tag: "04", Value: "5412345678901234"},
			{Tag: "29", Fields: []Field{{Tag: "00", Value: "A000000677010111"}, {Tag: "01", Value: "0066812345678"}}},
			{Tag: "52", Value: "5812"},
			{Tag: "53", Value: "156"},
			{Tag: "54", Value: "88.80"},
			{Tag: "55", Value: "03"},
			{Tag: "57", Value: "10"},
			{Tag: "58", Value: "CN"},
			{Tag: "59", Value: "BEIJING COFFEE HOUSE"},
			{Tag: "60", Value: "BEIJING"},
			{Tag: "61", Value: "100000"},
			{Tag: "62", Fields: []Field{
				{Tag: "01", Value: "INV-0042"},
				{Tag: "07", Value: "T01"},
				{Tag: "50", Value: "0004TEST0103ABC"},
			}},
			{Tag: "64", Fields: []Field{
				{Tag: "00", Value: "ZH"},
				{Tag: "01", Value: "北京咖啡馆"},
				{Tag: "02", Value: "北京"},
			}},
			{Tag: "85", Fields: []Field{{Tag: "00", Value: "com.example.loyalty"}, {Tag: "01", Value: "gold"}}},
		}, "64210002ZH0105北京咖啡馆0202北京"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Encode(tt.fields)
			if err != nil {
				t.Fatalf("Encode() error = %v", err)
			}
			if !strings.Contains(s, tt.contains) {
				t.Errorf("Encode() = %q; want it to contain %q", s, tt.contains)
			}
			p, err := Decode(s)
			if err != nil {
				t.Fatalf("Decode(Encode()) error = %v; payload %q", err, s)
			}
			got := p.Fields[:len(p.Fields)-1]
			if want := withRawValues(tt.fields); !reflect.DeepEqual(got, want) {
				t.Errorf("Decode(%q).Fields = %+v; want %+v", s, got, want)
			}
			if again, err := Encode(got); err != nil || again != s {
				t.Errorf("Encode(Decode(%q).Fields) = %q, %v; want the same payload", s, again, err)
			}
		})
	}
}

// withRawValues fills in the raw Value of each template, as Decode does.
func withRawValues(fields []Field) []Field {
	out := make([]Field, len(fields))
	for i, f := range fields {
		out[i] = f
		if len(f.Fields) > 0 {
			s, _ := Encode(f.Fields)
			out[i].Value = s[:len(s)-8] // drop the CRC Encode appends
			out[i].Fields = withRawValues(f.Fields)
		}
	}
	return out
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		fields []Field
		want   error // nil: must encode
	}{
		{"caller-supplied CRC", []Field{{Tag: "00", Value: "01"}, {Tag: "63", Value: "1D3D"}}, ErrFormat},
		{"63 inside a template is just a sub-object", []Field{{Tag: "26", Fields: []Field{{Tag: "63", Value: "x"}}}}, nil},
		{"duplicate tag", []Field{{Tag: "58", Value: "BR"}, {Tag: "58", Value: "SG"}}, ErrDuplicateTag},
		{"duplicate sub-tag", []Field{{Tag: "62", Fields: []Field{{Tag: "05", Value: "a"}, {Tag: "05", Value: "b"}}}}, ErrDuplicateTag},
		{"empty value", []Field{{Tag: "59", Value: ""}}, ErrLength},
		{"empty sub-value", []Field{{Tag: "62", Fields: []Field{{Tag: "05"}}}}, ErrLength},
		{"99 characters", []Field{{Tag: "59", Value: strings.Repeat("é", 99)}}, nil},
		{"100 characters", []Field{{Tag: "59", Value: strings.Repeat("x", 100)}}, ErrLength},
		{"template over 99 characters", []Field{{Tag: "62", Fields: []Field{
			{Tag: "01", Value: strings.Repeat("x", 60)}, {Tag: "02", Value: strings.Repeat("y", 40)},
		}}}, ErrLength},
		{"one-digit tag", []Field{{Tag: "5", Value: "x"}}, ErrFormat},
		{"three-digit tag", []Field{{Tag: "590", Value: "x"}}, ErrFormat},
		{"letter tag", []Field{{Tag: "5A", Value: "x"}}, ErrFormat},
		{"invalid UTF-8", []Field{{Tag: "59", Value: "caf\xe9"}}, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Encode(tt.fields)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Encode(%+v) = %q, %v; want error %v", tt.fields, s, err, tt.want)
			}
		})
	}
}
