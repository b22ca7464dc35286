package merchant

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant/emv"
)

var fuzzMerchant = Merchant{Code: "M7K2Q9", Name: "QRPAY TEST CAFE", City: "BEIJING", MCC: "5812", Country: "CN"}

// fuzzCurrencies are currencies of each exponent: 2, 0 and 3.
var fuzzCurrencies = []string{"CNY", "JPY", "KWD"}

func fuzzService() *Service {
	return New(Config{SecretKey: []byte("fuzz-secret-key")}, nil, nil)
}

// FuzzOrderQR issues the QR of an order and scans it back: ParseQR
// returns exactly what the order says when its amount fits the QR format
// (fitsQR), and refuses the code otherwise, so CreateOrder's check is the
// decoder's. The static QR scans back too. Any one byte of a dynamic code
// changed, with the CRC made right again so that the MAC is what has to
// notice, is refused or still reads as the same order.
func FuzzOrderQR(f *testing.F) {
	f.Add(int64(1200), uint8(0), "R4XN2B7QW9KD3M5TAB12", "POS1-000123", int64(1718100000), uint16(60), byte(1))
	f.Add(int64(1), uint8(1), "0", "", int64(-1), uint16(0), byte(0x20))
	f.Add(int64(999_999_999_999), uint8(2), "R", "注文-1", int64(0), uint16(100), byte(0x80))
	f.Add(MaxOrderAmount, uint8(1), "REF", "x", int64(1<<40), uint16(7), byte(0xff))
	f.Fuzz(func(t *testing.T, amount int64, cur uint8, ref, orderNo string, expiry int64, pos uint16, flip byte) {
		s := fuzzService()
		code := fuzzCurrencies[int(cur)%len(fuzzCurrencies)]
		m := fuzzMerchant
		m.Currency = code
		if amount <= 0 || amount > MaxOrderAmount {
			return
		}
		o := Order{MerchantOrderNo: orderNo, Amount: amount, Currency: code, TerminalID: "POS1", ExpiresAt: time.Unix(expiry, 0)}
		payload, err := s.dynamicPayload(m, o, ref)
		if err != nil {
			return // a reference or order number the format cannot carry; CreateOrder makes neither
		}
		want := QR{MerchantCode: m.Code, Ref: ref, Amount: amount, Currency: code, ExpiresAt: time.Unix(expiry, 0)}
		q, err := s.ParseQR(payload)
		if !fitsQR(amount, code) {
			if err == nil {
				t.Fatalf("ParseQR(%q) = %+v; fitsQR(%d, %s) says it cannot be read", payload, q, amount, code)
			}
			return
		}
		if err != nil || !sameQR(q, want) {
			t.Fatalf("ParseQR(%q) = %+v, %v; want %+v", payload, q, err, want)
		}

		b := []byte(payload[:len(payload)-4])
		b[int(pos)%len(b)] ^= max(flip, 1)
		changed := withCRC(string(b))
		if q, err := s.ParseQR(changed); err == nil && !sameQR(q, want) {
			t.Fatalf("ParseQR(%q), %q with one byte changed, = %+v; want an error or %+v", changed, payload, q, want)
		}

		static, err := s.staticPayload(m)
		if err != nil {
			t.Fatalf("staticPayload(%+v): %v", m, err)
		}
		if q, err := s.ParseQR(static); err != nil || !sameQR(q, QR{Static: true, MerchantCode: m.Code, Currency: code}) {
			t.Fatalf("ParseQR(%q) = %+v, %v; want the static QR of %s", static, q, err, m.Code)
		}
	})
}

// FuzzParseQR scans arbitrary text: it never panics, every refusal is
// qr_invalid, and what it accepts is a conforming EMV payload.
func FuzzParseQR(f *testing.F) {
	s := fuzzService()
	for _, code := range fuzzCurrencies {
		m := fuzzMerchant
		m.Currency = code
		o := Order{MerchantOrderNo: "POS1-000123", Amount: 1200, Currency: code, TerminalID: "POS1", ExpiresAt: time.Unix(1718100000, 0)}
		for _, p := range []func() (string, error){
			func() (string, error) { return s.dynamicPayload(m, o, "R4XN2B7QW9KD3M5TAB12") },
			func() (string, error) { return s.staticPayload(m) },
		} {
			payload, err := p()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(payload)
			f.Add(" " + payload + "\n")
		}
	}
	f.Add(withCRC("000201010212"))
	f.Add("")
	f.Fuzz(func(t *testing.T, payload string) {
		q, err := s.ParseQR(payload)
		if err != nil {
			if !errs.Is(err, errs.QRInvalid) {
				t.Fatalf("ParseQR(%q) error %v; want qr_invalid", payload, err)
			}
			return
		}
		if _, err := emv.Decode(strings.TrimSpace(payload)); err != nil {
			t.Fatalf("ParseQR(%q) = %+v; but Decode says %v", payload, q, err)
		}
		if q.Static && (q.Ref != "" || q.Amount != 0) || !q.Static && q.Amount <= 0 {
			t.Fatalf("ParseQR(%q) = %+v: a static QR with an order's reference or amount, or an order without an amount", payload, q)
		}
	})
}

// sameQR compares QRs with times by instant.
func sameQR(a, b QR) bool {
	return a.Static == b.Static && a.MerchantCode == b.MerchantCode && a.Ref == b.Ref &&
		a.Amount == b.Amount && a.Currency == b.Currency && a.ExpiresAt.Equal(b.ExpiresAt)
}

func withCRC(body string) string {
	body += "6304"
	return body + fmt.Sprintf("%04X", emv.CRC16([]byte(body)))
}
