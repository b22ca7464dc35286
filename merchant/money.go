package merchant

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/qrpay/qrpay/gateway/errs"
)

// currency is what the QR format needs of an ISO 4217 currency.
type currency struct {
	numeric  string // tag 53
	exponent int    // minor-unit digits in tag 54
}

// currencies the gateway accepts. Adding one is adding a line.
var currencies = map[string]currency{
	"CNY": {"156", 2}, "HKD": {"344", 2}, "MOP": {"446", 2}, "TWD": {"901", 2},
	"USD": {"840", 2}, "EUR": {"978", 2}, "GBP": {"826", 2}, "SGD": {"702", 2},
	"THB": {"764", 2}, "MYR": {"458", 2}, "JPY": {"392", 0}, "KRW": {"410", 0},
	"VND": {"704", 0}, "IDR": {"360", 2}, "PHP": {"608", 2}, "INR": {"356", 2},
	"AUD": {"036", 2}, "CAD": {"124", 2}, "CHF": {"756", 2}, "BRL": {"986", 2},
	"KWD": {"414", 3}, "BHD": {"048", 3},
}

// currencyByNumeric maps tag 53 back to the alpha code.
var currencyByNumeric = func() map[string]string {
	m := make(map[string]string, len(currencies))
	for alpha, c := range currencies {
		m[c.numeric] = alpha
	}
	return m
}()

func knownCurrency(code string) error {
	if _, ok := currencies[code]; !ok {
		return errs.E(errs.Invalid, "currency %q is not supported", code)
	}
	return nil
}

// FormatAmount writes minor units as the decimal string of tag 54:
// 1200 CNY is "12.00", 500 JPY is "500".
func FormatAmount(minor int64, code string) string {
	exp := currencies[code].exponent
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	if exp == 0 {
		return sign + strconv.FormatInt(minor, 10)
	}
	s := fmt.Sprintf("%0*d", exp+1, minor)
	return sign + s[:len(s)-exp] + "." + s[len(s)-exp:]
}

// ParseAmount reads a tag 54 decimal string as minor units. It refuses more
// decimals than the currency has, so "12.345" CNY is an error, never a
// rounded amount.
func ParseAmount(s, code string) (int64, error) {
	c, ok := currencies[code]
	if !ok {
		return 0, fmt.Errorf("unsupported currency %q", code)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(frac) > c.exponent || (hasDot && c.exponent == 0) {
		return 0, fmt.Errorf("amount %q does not fit %s", s, code)
	}
	frac += strings.Repeat("0", c.exponent-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("amount %q is not a number", s)
	}
	return v, nil
}

// Fee is the gateway's fee on a payment: amount × bps / 10000, rounded half
// up to the minor unit (0.5 fen and above rounds up). It is computed in
// 128 bits, so no amount can overflow it.
func Fee(amount int64, bps int) int64 {
	return mulDivRound(amount, int64(bps), 10000)
}

// RefundFee is the fee returned with a refund. The fee refunded so far is
// always round-half-up(fee × refunded / amount), and each refund returns the
// difference; so partial refunds never return more than the fee in all, and
// refunding everything returns exactly the whole fee.
func RefundFee(amount, fee, refundedBefore, refund int64) int64 {
	return mulDivRound(fee, refundedBefore+refund, amount) - mulDivRound(fee, refundedBefore, amount)
}

// mulDivRound returns round-half-up(a × b / c) for non-negative a, b and
// positive c, in 128-bit arithmetic.
func mulDivRound(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	lo, carry := bits.Add64(lo, uint64(c)/2, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}
