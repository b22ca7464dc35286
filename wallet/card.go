package wallet

import (
	"strings"
	"time"
	"unicode"
)

// Card is a bound bank card as the wallet shows it: never the number.
type Card struct {
	ID         string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Brand      string    `json:"brand" example:"visa" enum:"visa,mastercard,unionpay,amex,jcb,unknown"`
	Last4      string    `json:"last4" example:"1111"`
	Masked     string    `json:"masked" example:"**** 1111"`
	ExpMonth   int       `json:"exp_month" example:"12"`
	ExpYear    int       `json:"exp_year" example:"2030"`
	HolderName string    `json:"holder_name" example:"LI LEI"`
	Status     string    `json:"status" example:"active" enum:"active,frozen"`
	Limits     Limits    `json:"limits"`
	CreatedAt  time.Time `json:"created_at"`

	token     string
	issuerRef string
}

// Limits are a card's spending limits in minor units.
type Limits struct {
	PerTransaction int64 `json:"per_transaction" example:"500000" doc:"Largest single payment or top-up."`
	DailyAmount    int64 `json:"daily_amount" example:"2000000" doc:"Most spent per day (wallet time zone)."`
	DailyCount     int64 `json:"daily_count" example:"50" doc:"Most payments and top-ups per day."`
}

// within reports whether l is no looser than max in every dimension.
func (l Limits) within(max Limits) bool {
	return l.PerTransaction <= max.PerTransaction && l.DailyAmount <= max.DailyAmount && l.DailyCount <= max.DailyCount
}

// normalizeCardNumber strips spaces and dashes; it returns "" unless what is
// left is 12 to 19 digits.
func normalizeCardNumber(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if n := b.Len(); n < 12 || n > 19 {
		return ""
	}
	return b.String()
}

// luhn reports whether a digit string passes the Luhn (mod 10) check.
func luhn(number string) bool {
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// brandOf names the card scheme from the number's leading digits (IIN).
func brandOf(number string) string {
	prefix := func(n int) int {
		v := 0
		for i := 0; i < n && i < len(number); i++ {
			v = v*10 + int(number[i]-'0')
		}
		return v
	}
	switch p2, p4 := prefix(2), prefix(4); {
	case number[0] == '4':
		return "visa"
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return "mastercard"
	case p2 == 34 || p2 == 37:
		return "amex"
	case p4 >= 3528 && p4 <= 3589:
		return "jcb"
	case p2 == 62 || p2 == 81:
		return "unionpay"
	}
	return "unknown"
}

// expired reports whether a card valid through month/year has expired at
// now: a card is good through the last day of its expiry month.
func expired(month, year int, now time.Time) bool {
	endOfMonth := time.Date(year, time.Month(month)+1, 1, 0, 0, 0, 0, time.UTC)
	return !now.Before(endOfMonth)
}

// cleanHolderName trims and uppercases a card holder's name; it returns ""
// for names that are empty, too long, or contain control characters.
func cleanHolderName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || len([]rune(s)) > 64 {
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsDigit(r) {
			return ""
		}
	}
	return strings.ToUpper(s)
}

func mask(last4 string) string { return "**** " + last4 }
