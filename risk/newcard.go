package risk

import "fmt"

// NewCardLargeAmount fires on a large amount from a card bound only hours
// ago: a stolen card is bound and used at once.
func NewCardLargeAmount(f Facts, c Counters, t Thresholds) (Finding, bool) {
	if f.Kind == Transfer || f.CardID == "" || f.CardBoundAt.IsZero() || t.NewCardAge <= 0 || t.NewCardAmount <= 0 {
		return Finding{}, false
	}
	if f.Amount < t.NewCardAmount || f.Now.Sub(f.CardBoundAt) >= t.NewCardAge {
		return Finding{}, false
	}
	return Finding{Rule: "new_card_large_amount", Outcome: StepUp,
		Reason: fmt.Sprintf("a large amount from a card bound %s ago", roundAge(f.Now.Sub(f.CardBoundAt)))}, true
}
