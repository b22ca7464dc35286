package risk

import "fmt"

// RepeatedDeclines fires when the wallet's attempts keep being refused
// (wrong PINs, no funds, limits, declines): someone may be probing it.
func RepeatedDeclines(f Facts, c Counters, t Thresholds) (Finding, bool) {
	if t.Declines <= 0 || c.Declines < t.Declines {
		return Finding{}, false
	}
	return Finding{Rule: "repeated_declines", Outcome: StepUp,
		Reason: fmt.Sprintf("%d refused attempts in the last %s", c.Declines, roundAge(t.DeclineWindow))}, true
}
