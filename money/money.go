// Package money knows the currencies qrpay accepts and how their integer
// minor units are written as decimals. Money is always int64 minor units
// with an ISO 4217 code; decimals exist only at the edges: the EMVCo
// amount field and the human-readable columns of files.
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// Currency is what qrpay needs of an ISO 4217 currency.
type Currency struct {
	Code     string // alphabetic, "CNY"
	Numeric  string // numeric, "156" (EMVCo tag 53)
	Exponent int    // digits of the minor unit: 2 for fen, 0 for yen
}

// currencies the gateway accepts. Adding one is adding a line.
var currencies = map[string]Currency{}

func init() {
	for _, c := range []Currency{
		{"CNY", "156", 2}, {"HKD", "344", 2}, {"MOP", "446", 2}, {"TWD", "901", 2},
		{"USD", "840", 2}, {"EUR", "978", 2}, {"GBP", "826", 2}, {"SGD", "702", 2},
		{"THB", "764", 2}, {"MYR", "458", 2}, {"JPY", "392", 0}, {"KRW", "410", 0},
		{"VND", "704", 0}, {"IDR", "360", 2}, {"PHP", "608", 2}, {"INR", "356", 2},
		{"AUD", "036", 2}, {"CAD", "124", 2}, {"CHF", "756", 2}, {"BRL", "986", 2},
		{"KWD", "414", 3}, {"BHD", "048", 3},
	} {
		currencies[c.Code] = c
		byNumeric[c.Numeric] = c
	}
}

var byNumeric = map[string]Currency{}

// Lookup finds a currency by its alphabetic code.
func Lookup(code string) (Currency, bool) {
	c, ok := currencies[code]
	return c, ok
}

// ByNumeric finds a currency by its numeric code.
func ByNumeric(numeric string) (Currency, bool) {
	c, ok := byNumeric[numeric]
	return c, ok
}

// Format writes minor units as a decimal: 1200 CNY is "12.00", -5 CNY is
// "-0.05", 500 JPY is "500". An unknown currency is written with two
// decimals.
func Format(minor int64, code string) string {
	exp := 2
	if c, ok := currencies[code]; ok {
		exp = c.Exponent
	}
	sign, u := "", uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-(minor+1))+1 // no overflow at math.MinInt64
	}
	if exp == 0 {
		return sign + strconv.FormatUint(u, 10)
	}
	s := fmt.Sprintf("%0*d", exp+1, u)
	return sign + s[:len(s)-exp] + "." + s[len(s)-exp:]
}

// Parse reads a non-negative decimal as minor units. It refuses more
// decimals than the currency has, so "12.345" CNY is an error, never a
// rounded amount.
func Parse(s, code string) (int64, error) {
	c, ok := currencies[code]
	if !ok {
		return 0, fmt.Errorf("unsupported currency %q", code)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	// strconv.ParseInt below would also take a sign: "+1", "-0", "+.5".
	if strings.Trim(whole+frac, "0123456789") != "" {
		return 0, fmt.Errorf("amount %q is not a number", s)
	}
	if whole == "" || len(frac) > c.Exponent || (hasDot && c.Exponent == 0) {
		return 0, fmt.Errorf("amount %q does not fit %s", s, code)
	}
	frac += strings.Repeat("0", c.Exponent-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("amount %q is not a number", s)
	}
	return v, nil
}
