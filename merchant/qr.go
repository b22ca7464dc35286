package merchant

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant/emv"
	"github.com/qrpay/qrpay/money"
)

// GUID names qrpay's merchant-account template (tag 26) in every QR it
// issues; a payload without it belongs to another scheme.
const GUID = "COM.QRPAY"

// Our template's sub-tags.
const (
	subMerchant = "01" // the merchant's code
	subRef      = "02" // the order's unguessable reference (dynamic)
	subExpiry   = "03" // the order's expiry, Unix seconds (dynamic)
	subMAC      = "04" // MAC over the above and the amount and currency
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// QR is what a scanned qrpay payload says, once its MAC checked out.
type QR struct {
	Static       bool
	MerchantCode string
	Ref          string // dynamic only
	Amount       int64  // dynamic only
	Currency     string
	ExpiresAt    time.Time // dynamic only
}

// qrMAC authenticates what a payload promises. Only the gateway holds the
// key, so a payload whose amount, currency, merchant, order or expiry was
// edited is refused before anything is looked up.
func (s *Service) qrMAC(q QR) string {
	m := hmac.New(sha256.New, s.keys.qr)
	kind := "dynamic"
	if q.Static {
		kind = "static"
	}
	fmt.Fprintf(m, "qrpay-qr/v1\n%s\n%s\n%s\n%d\n%s\n%d", kind, q.MerchantCode, q.Ref, q.Amount, q.Currency, q.ExpiresAt.Unix())
	return b32.EncodeToString(m.Sum(nil)[:12]) // 96 bits, 20 characters
}

// dynamicPayload is the EMVCo payload of an order: point of initiation 12,
// the amount in 54 and the order's reference in 62 and in our template.
func (s *Service) dynamicPayload(m Merchant, o Order, ref string) (string, error) {
	q := QR{MerchantCode: m.Code, Ref: ref, Amount: o.Amount, Currency: o.Currency, ExpiresAt: o.ExpiresAt.Truncate(time.Second)}
	additional := []emv.Field{}
	if n := len([]rune(o.MerchantOrderNo)); n > 0 && n <= 25 {
		additional = append(additional, emv.Field{Tag: "01", Value: o.MerchantOrderNo})
	}
	additional = append(additional, emv.Field{Tag: "05", Value: ref})
	if n := len([]rune(o.TerminalID)); n > 0 && n <= 25 {
		additional = append(additional, emv.Field{Tag: "07", Value: o.TerminalID})
	}
	return emv.Encode([]emv.Field{
		{Tag: "00", Value: "01"},
		{Tag: "01", Value: "12"},
		{Tag: "26", Fields: []emv.Field{
			{Tag: "00", Value: GUID},
			{Tag: subMerchant, Value: m.Code},
			{Tag: subRef, Value: ref},
			{Tag: subExpiry, Value: strconv.FormatInt(q.ExpiresAt.Unix(), 10)},
			{Tag: subMAC, Value: s.qrMAC(q)},
		}},
		{Tag: "52", Value: m.MCC},
		{Tag: "53", Value: numeric(o.Currency)},
		{Tag: "54", Value: money.Format(o.Amount, o.Currency)},
		{Tag: "58", Value: m.Country},
		{Tag: "59", Value: m.Name},
		{Tag: "60", Value: m.City},
		{Tag: "62", Fields: additional},
	})
}

// staticPayload is a merchant's printed QR: point of initiation 11 and no
// amount; the customer types the amount when paying.
func (s *Service) staticPayload(m Merchant) (string, error) {
	q := QR{Static: true, MerchantCode: m.Code, Currency: m.Currency}
	return emv.Encode([]emv.Field{
		{Tag: "00", Value: "01"},
		{Tag: "01", Value: "11"},
		{Tag: "26", Fields: []emv.Field{
			{Tag: "00", Value: GUID},
			{Tag: subMerchant, Value: m.Code},
			{Tag: subMAC, Value: s.qrMAC(q)},
		}},
		{Tag: "52", Value: m.MCC},
		{Tag: "53", Value: numeric(m.Currency)},
		{Tag: "58", Value: m.Country},
		{Tag: "59", Value: m.Name},
		{Tag: "60", Value: m.City},
	})
}

// ParseQR decodes a scanned payload strictly and checks that it is ours and
// untampered. Every failure is qr_invalid with the precise reason.
func (s *Service) ParseQR(payload string) (QR, error) {
	// Decode, not Parse: a code that breaks the specification's rules may
	// be shown by a diagnostic tool, but the wallet pays only conforming ones.
	p, err := emv.Decode(strings.TrimSpace(payload))
	if err != nil {
		return QR{}, errs.E(errs.QRInvalid, "%v", err)
	}
	acct, ok := p.Account(GUID)
	if !ok {
		var guids []string
		for _, a := range p.Accounts {
			if a.GUID != "" {
				guids = append(guids, a.GUID)
			}
		}
		return QR{}, errs.E(errs.QRInvalid, "this QR code is for another payment scheme (%s)", strings.Join(guids, ", "))
	}
	sub := map[string]string{}
	for _, f := range acct.Fields {
		sub[f.Tag] = f.Value
	}
	cur, ok := money.ByNumeric(p.Currency)
	if !ok {
		return QR{}, errs.E(errs.QRInvalid, "currency %s is not supported", p.Currency)
	}
	code := cur.Code
	q := QR{Static: p.Initiation == "11", MerchantCode: sub[subMerchant], Currency: code}
	if !q.Static {
		q.Ref = sub[subRef]
		unix, err := strconv.ParseInt(sub[subExpiry], 10, 64)
		if err != nil {
			return QR{}, errs.E(errs.QRInvalid, "the QR code has no valid expiry")
		}
		q.ExpiresAt = time.Unix(unix, 0)
		if q.Amount, err = money.Parse(p.Amount, code); err != nil {
			return QR{}, errs.E(errs.QRInvalid, "%v", err)
		}
	}
	if !hmac.Equal([]byte(sub[subMAC]), []byte(s.qrMAC(q))) {
		return QR{}, errs.E(errs.QRInvalid, "the QR code was altered or was not issued by this gateway")
	}
	if q.Static && p.Amount != "" {
		return QR{}, errs.E(errs.QRInvalid, "a static QR code carries no amount")
	}
	return q, nil
}

// numeric is the currency's ISO 4217 numeric code (tag 53).
func numeric(code string) string {
	c, _ := money.Lookup(code)
	return c.Numeric
}

// fitsQR reports whether an order's amount can be written in tag 54, whose
// emv.MaxAmountLength characters hold 9999999999.99 CNY but not 10^12 fen:
// an order whose QR no wallet can read must not be created.
func fitsQR(amount int64, currency string) bool {
	return len(money.Format(amount, currency)) <= emv.MaxAmountLength
}
