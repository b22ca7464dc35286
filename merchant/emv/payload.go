package emv

import "strings"

// Payload is a decoded MPM payload: the objects in order, for re-encoding
// and for scheme-specific fields, plus the common fields by name.
type Payload struct {
	// Fields holds every root object in payload order, including 63. For
	// a payload Decode accepted, Encode(Fields[:len(Fields)-1]) gives back
	// the same string, up to the case of the CRC's hex digits.
	Fields []Field

	FormatIndicator string // 00, "01"
	Initiation      string // 01: "11" static, "12" dynamic, "" absent

	// Accounts holds the merchant account information objects 02–51 in
	// payload order: primitive card-network IDs 02–25 and templates 26–51.
	Accounts []Account

	MCC          string // 52, ISO 18245 merchant category code
	Currency     string // 53, ISO 4217 numeric
	Amount       string // 54 as written, e.g. "23.72"
	TipIndicator string // 55: "01" prompt, "02" fixed fee, "03" percentage
	TipFixed     string // 56
	TipPercent   string // 57
	Country      string // 58, ISO 3166-1 alpha-2
	Name         string // 59
	City         string // 60
	PostalCode   string // 61

	Additional *Additional // 62, nil if absent
	Language   *Language   // 64, nil if absent

	// Unreserved holds the templates 80–99 in payload order.
	Unreserved []Account

	CRC string // 63 as written
}

// Account is one merchant account information object (02–51) or
// unreserved template (80–99). The same merchant usually carries several,
// one per payment network that can pay it.
type Account struct {
	Tag string
	// GUID is sub-object 00 of a template, which names the network that
	// owns the template: an AID such as "A000000677010111", a reverse
	// domain name such as "br.gov.bcb.pix", or a UUID. Empty for 02–25.
	GUID string
	// Value is the raw value: the card network's merchant ID for 02–25,
	// the whole template for 26–51 and 80–99.
	Value string
	// Fields holds a template's sub-objects, including 00; nil for 02–25.
	Fields []Field
}

// Additional is the additional data field template 62.
type Additional struct {
	BillNumber          string // 01
	MobileNumber        string // 02
	StoreLabel          string // 03
	LoyaltyNumber       string // 04
	ReferenceLabel      string // 05
	CustomerLabel       string // 06
	TerminalLabel       string // 07
	Purpose             string // 08
	ConsumerDataRequest string // 09: letters A (address), M (mobile), E (email)
	MerchantTaxID       string // 10
	MerchantChannel     string // 11
	// Other holds the remaining sub-objects in order: RFU 12–49 and the
	// payment-system-specific templates 50–99, raw.
	Other []Field
}

// Language is the merchant information language template 64, which lets a
// merchant show its name and city in a second language and script.
type Language struct {
	Preference string  // 00, ISO 639 two-letter code, e.g. "ZH"
	Name       string  // 01
	City       string  // 02
	Other      []Field // RFU 03–99
}

// Dynamic reports whether the code is meant for one transaction (point of
// initiation "12"), as opposed to a static code printed at the till.
func (p *Payload) Dynamic() bool { return p.Initiation == "12" }

// Account returns the merchant account or unreserved template whose GUID
// equals guid, ignoring case: GUIDs are reverse domain names and AIDs, and
// schemes write them in either case ("br.gov.bcb.pix", "BR.GOV.BCB.PIX").
func (p *Payload) Account(guid string) (Account, bool) {
	if guid == "" {
		return Account{}, false
	}
	for _, list := range [][]Account{p.Accounts, p.Unreserved} {
		for _, a := range list {
			if strings.EqualFold(a.GUID, guid) {
				return a, true
			}
		}
	}
	return Account{}, false
}

// newPayload names the fields of an already framed payload.
func newPayload(fields []Field) *Payload {
	p := &Payload{Fields: fields}
	for _, f := range fields {
		switch n := tagNum(f.Tag); {
		case n >= 2 && n <= 25:
			p.Accounts = append(p.Accounts, Account{Tag: f.Tag, Value: f.Value})
		case n >= 26 && n <= 51:
			p.Accounts = append(p.Accounts, newAccount(f))
		case n >= 80:
			p.Unreserved = append(p.Unreserved, newAccount(f))
		case n == 62:
			p.Additional = newAdditional(f.Fields)
		case n == 64:
			p.Language = newLanguage(f.Fields)
		default:
			if dst := p.primitive(n); dst != nil {
				*dst = f.Value
			}
		}
	}
	return p
}

// primitive maps a root ID to the Payload field that holds it, or nil for
// IDs kept only in Fields (RFU 65–79).
func (p *Payload) primitive(n int) *string {
	switch n {
	case 0:
		return &p.FormatIndicator
	case 1:
		return &p.Initiation
	case 52:
		return &p.MCC
	case 53:
		return &p.Currency
	case 54:
		return &p.Amount
	case 55:
		return &p.TipIndicator
	case 56:
		return &p.TipFixed
	case 57:
		return &p.TipPercent
	case 58:
		return &p.Country
	case 59:
		return &p.Name
	case 60:
		return &p.City
	case 61:
		return &p.PostalCode
	case 63:
		return &p.CRC
	}
	return nil
}

func newAccount(f Field) Account {
	a := Account{Tag: f.Tag, Value: f.Value, Fields: f.Fields}
	a.GUID, _ = lookup(f.Fields, "00")
	return a
}

func newAdditional(fields []Field) *Additional {
	a := &Additional{}
	named := [...]*string{
		1: &a.BillNumber, 2: &a.MobileNumber, 3: &a.StoreLabel, 4: &a.LoyaltyNumber,
		5: &a.ReferenceLabel, 6: &a.CustomerLabel, 7: &a.TerminalLabel, 8: &a.Purpose,
		9: &a.ConsumerDataRequest, 10: &a.MerchantTaxID, 11: &a.MerchantChannel,
	}
	for _, f := range fields {
		if n := tagNum(f.Tag); n < len(named) && named[n] != nil {
			*named[n] = f.Value
		} else {
			a.Other = append(a.Other, f)
		}
	}
	return a
}

func newLanguage(fields []Field) *Language {
	l := &Language{}
	for _, f := range fields {
		switch f.Tag {
		case "00":
			l.Preference = f.Value
		case "01":
			l.Name = f.Value
		case "02":
			l.City = f.Value
		default:
			l.Other = append(l.Other, f)
		}
	}
	return l
}

// lookup returns the value of the object with the given ID.
func lookup(fields []Field, tag string) (string, bool) {
	for _, f := range fields {
		if f.Tag == tag {
			return f.Value, true
		}
	}
	return "", false
}
