package risk

import "fmt"

// CardVelocity fires on a card paying faster than a person at a till does:
// above the per-minute threshold it asks for a step-up, above the decline
// threshold it refuses (a script draining a stolen card's session).
func CardVelocity(f Facts, c Counters, t Thresholds) (Finding, bool) {
	if f.Kind != Payment || f.CardID == "" {
		return Finding{}, false
	}
	reason := fmt.Sprintf("%d payments with this card in the last minute", c.CardPayments)
	switch {
	case t.CardPaymentsDecline > 0 && c.CardPayments > t.CardPaymentsDecline:
		return Finding{Rule: "card_velocity", Outcome: Decline, Reason: reason}, true
	case t.CardPaymentsPerMinute > 0 && c.CardPayments > t.CardPaymentsPerMinute:
		return Finding{Rule: "card_velocity", Outcome: StepUp, Reason: reason}, true
	}
	return Finding{}, false
}
