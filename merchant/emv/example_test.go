package emv_test

import (
	"errors"
	"fmt"

	"github.com/qrpay/qrpay/merchant/emv"
)

func ExampleEncode() {
	s, err := emv.Encode([]emv.Field{
		{Tag: "00", Value: "01"},
		{Tag: "01", Value: "12"},
		{Tag: "26", Fields: []emv.Field{
			{Tag: "00", Value: "br.gov.bcb.pix"},
			{Tag: "01", Value: "123e4567-e12b-12d1-a456-426655440000"},
		}},
		{Tag: "52", Value: "5812"},
		{Tag: "53", Value: "986"},
		{Tag: "54", Value: "149.90"},
		{Tag: "58", Value: "BR"},
		{Tag: "59", Value: "QRPAY MERCHANT LTDA"},
		{Tag: "60", Value: "SAO PAULO"},
		{Tag: "62", Fields: []emv.Field{{Tag: "05", Value: "ORD20240611"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)
	// Output:
	// 00020101021226580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204581253039865406149.905802BR5919QRPAY MERCHANT LTDA6009SAO PAULO62150511ORD202406116304B924
}

func ExampleDecode() {
	p, err := emv.Decode("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D")
	if err != nil {
		fmt.Println(err)
		return
	}
	pix, _ := p.Account("br.gov.bcb.pix")
	key := pix.Fields[1].Value
	fmt.Println(p.Name, p.City, p.Currency, p.Dynamic(), key)
	// Output:
	// Fulano de Tal BRASILIA 986 false 123e4567-e12b-12d1-a456-426655440000
}

// A Thai PromptPay person-to-person code omits the merchant category, name
// and city that the specification makes mandatory. Decode reports that, and
// still returns the payload for a caller willing to accept it.
func ExampleDecode_nonConforming() {
	p, err := emv.Decode("00020101021129370016A000000677010111011300668012345675802TH530376463046197")
	fmt.Println(err)
	if errors.Is(err, emv.ErrMissingTag) && p != nil {
		promptPay, _ := p.Account("A000000677010111")
		fmt.Println(promptPay.Fields[1].Value, p.Currency)
	}
	// Output:
	// emv: tag 52: missing merchant category code
	// 0066801234567 764
}

// A diagnostic tool reads the structure first and lists every rule the code
// breaks, instead of stopping at the first.
func ExampleParse() {
	p, err := emv.Parse("00020101021129370016A000000677010111011300668012345675802TH530376463046197")
	if err != nil {
		fmt.Println(err) // framing or CRC: nothing to show
		return
	}
	fmt.Println(p.Country, p.Currency)
	for _, problem := range p.Problems() {
		fmt.Println("warning:", problem)
	}
	// Output:
	// TH 764
	// warning: emv: tag 52: missing merchant category code
	// warning: emv: tag 59: missing merchant name
	// warning: emv: tag 60: missing merchant city
}
