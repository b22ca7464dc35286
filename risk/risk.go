// Package risk decides, before money moves, whether a payment, top-up or
// transfer looks like its wallet's ordinary traffic. Rules are plain
// functions of a Facts value (what the caller knows about the movement) and
// a Counters value (what Redis knows about the wallet's recent past); an
// Engine reads and updates the counters with one script call and runs
// every rule. Alerts are what the rules found, stored after the fact and
// delivered to the operator. The package knows nothing of wallets,
// merchants or HTTP: callers hand it plain values.
package risk

import (
	"strings"
	"time"
)

// Kind is the kind of movement being evaluated.
type Kind string

// The movements the rules see.
const (
	Payment    Kind = "payment"
	TopUp      Kind = "topup"
	Transfer   Kind = "transfer"
	Withdrawal Kind = "withdrawal" // from the wallet to one of its cards

)

// Facts are what the caller knows about a movement before it is posted.
type Facts struct {
	Kind     Kind
	WalletID string
	// CardID is the card a payment or top-up uses, or a withdrawal
	// credits; empty for a transfer.
	CardID string
	// CardBoundAt is when the card was bound to the wallet.
	CardBoundAt time.Time
	// MerchantID is the merchant a payment pays.
	MerchantID string
	// RecipientID and RecipientCreatedAt describe a transfer's recipient.
	RecipientID        string
	RecipientCreatedAt time.Time
	Amount             int64 // minor units
	Currency           string
	// Key is the request's idempotency key: a retry of the same request
	// (a payment sent again with its step-up proof) counts once.
	Key string
	Now time.Time
}

// Counters are the wallet's recent past as Redis holds it, the movement
// being evaluated included where a counter says so.
type Counters struct {
	// CardPayments is how many payments the card attempted in the last
	// minute, this one included.
	CardPayments int64
	// CardMerchants is how many distinct merchants the card paid (or tried
	// to) in the last 10 minutes, this one included.
	CardMerchants int64
	// Declines is how many of the wallet's attempts were refused within the
	// decline window, before this one.
	Declines int64
	// Amounts is how many outgoing amounts the statistic has seen before
	// this one; Mean and Var are the exponentially weighted mean and
	// variance of their natural logarithms (see Statistic).
	Amounts   int64
	Mean, Var float64
}

// Outcome is what a decision lets happen, from the mildest to the most
// severe.
type Outcome int

// The outcomes.
const (
	Allow      Outcome = iota // nothing unusual
	AllowAlert                // let it through, and tell the operator and the owner
	StepUp                    // let it through only with a fresh proof that the owner is there (the PIN)
	Decline                   // refuse it
)

func (o Outcome) String() string {
	switch o {
	case AllowAlert:
		return "alert"
	case StepUp:
		return "step_up"
	case Decline:
		return "decline"
	}
	return "allow"
}

// Finding is what one rule found.
type Finding struct {
	Rule    string  `json:"rule" example:"card_velocity"`
	Outcome Outcome `json:"-"`
	// Reason is shown to the customer and the operator.
	Reason string `json:"reason" example:"6 payments with this card in the last minute"`
}

// Decision is the outcome of every rule for one movement.
type Decision struct {
	Outcome  Outcome
	Findings []Finding
}

// Reason joins the reasons of the findings that set the outcome.
func (d Decision) Reason() string {
	var rs []string
	for _, f := range d.Findings {
		if f.Outcome == d.Outcome {
			rs = append(rs, f.Reason)
		}
	}
	return strings.Join(rs, "; ")
}

// Rule is one check. It returns a finding and true when it fires.
type Rule func(f Facts, c Counters, t Thresholds) (Finding, bool)

// Rules are every rule, run in this order for every movement.
var Rules = []Rule{CardVelocity, CardMerchants, UnusualAmount, NewCardLargeAmount, RepeatedDeclines, NewRecipient}

// RuleNames are the names the rules' findings carry, in Rules' order: what
// an alert's rule is, and what the alert list filters by.
var RuleNames = []string{"card_velocity", "card_merchants", "unusual_amount", "new_card_large_amount", "repeated_declines", "new_recipient"}

func knownRule(name string) bool {
	for _, r := range RuleNames {
		if r == name {
			return true
		}
	}
	return false
}

// Decide runs every rule and takes the most severe outcome.
func Decide(f Facts, c Counters, t Thresholds) Decision {
	d := Decision{}
	for _, rule := range Rules {
		if fd, ok := rule(f, c, t); ok {
			d.Findings = append(d.Findings, fd)
			d.Outcome = max(d.Outcome, fd.Outcome)
		}
	}
	return d
}
