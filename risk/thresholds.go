package risk

import "time"

// Thresholds tune the rules. cmd fills them from the environment (README,
// Configuration); a zero threshold turns its rule off.
type Thresholds struct {
	// CardPaymentsPerMinute: more payments than this with one card in a
	// minute need a step-up; more than CardPaymentsDecline are declined.
	CardPaymentsPerMinute int64
	CardPaymentsDecline   int64
	// CardMerchantsPer10Min: paying more distinct merchants than this with
	// one card in 10 minutes needs a step-up.
	CardMerchantsPer10Min int64
	// AmountZ: an outgoing amount whose log lies this many standard
	// deviations above the wallet's weighted mean needs a step-up, once the
	// statistic has seen AmountMinHistory amounts, and only above
	// AmountFloor minor units (small amounts are never unusual).
	AmountZ          float64
	AmountMinHistory int64
	AmountFloor      int64
	// AmountAlpha is the weight of each new amount in the statistic
	// (0 < alpha ≤ 1): the statistic forgets with a half-life of about
	// ln 2 / alpha amounts.
	AmountAlpha float64
	// NewCardAge, NewCardAmount: a card bound less than NewCardAge ago
	// needs a step-up for an amount of NewCardAmount or more.
	NewCardAge    time.Duration
	NewCardAmount int64
	// Declines refused attempts of a wallet within DeclineWindow make its
	// next attempt need a step-up.
	Declines      int64
	DeclineWindow time.Duration
	// NewRecipientAge: a transfer to a wallet opened less than this ago is
	// alerted; from NewRecipientDeclineAmount up it is declined.
	NewRecipientAge           time.Duration
	NewRecipientDeclineAmount int64
}

// DefaultThresholds are the thresholds `qrpay serve` starts with.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CardPaymentsPerMinute: 5, CardPaymentsDecline: 20,
		CardMerchantsPer10Min: 5,
		AmountZ:               4, AmountMinHistory: 5, AmountFloor: 10000, AmountAlpha: 0.1,
		NewCardAge: 24 * time.Hour, NewCardAmount: 100000,
		Declines: 3, DeclineWindow: 10 * time.Minute,
		NewRecipientAge: 30 * time.Minute, NewRecipientDeclineAmount: 500000,
	}
}
