package risk

import "fmt"

// CardMerchants fires on a card paying many different merchants within
// minutes: the pattern of a card tried at one shop after another.
func CardMerchants(f Facts, c Counters, t Thresholds) (Finding, bool) {
	if f.Kind != Payment || f.MerchantID == "" || t.CardMerchantsPer10Min <= 0 || c.CardMerchants <= t.CardMerchantsPer10Min {
		return Finding{}, false
	}
	return Finding{Rule: "card_merchants", Outcome: StepUp,
		Reason: fmt.Sprintf("this card paid %d different merchants in 10 minutes", c.CardMerchants)}, true
}
