package emv

import "testing"

// dynamicFields is a typical per-order code: a PIX key, an amount and the
// order reference in 62.05.
var dynamicFields = []Field{
	{Tag: "00", Value: "01"},
	{Tag: "01", Value: "12"},
	{Tag: "26", Fields: []Field{
		{Tag: "00", Value: "br.gov.bcb.pix"},
		{Tag: "01", Value: "123e4567-e12b-12d1-a456-426655440000"},
	}},
	{Tag: "52", Value: "5812"},
	{Tag: "53", Value: "986"},
	{Tag: "54", Value: "149.90"},
	{Tag: "58", Value: "BR"},
	{Tag: "59", Value: "QRPAY MERCHANT LTDA"},
	{Tag: "60", Value: "SAO PAULO"},
	{Tag: "62", Fields: []Field{{Tag: "05", Value: "ORD20240611ABCDEF123"}}},
}

func BenchmarkEncode(b *testing.B) {
	for b.Loop() {
		if _, err := Encode(dynamicFields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	s, err := Encode(dynamicFields)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := Decode(s); err != nil {
			b.Fatal(err)
		}
	}
}
