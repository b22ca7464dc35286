package risk

import (
	"fmt"
	"math"
)

// StdFloor is the smallest standard deviation of log-amounts the unusual
// amount rule divides by: a wallet that always pays the same amount has a
// variance near zero, and without a floor a cent more would look unusual.
// 0.5 means an amount must be at least e^(0.5·AmountZ) times the typical
// one (7.4× with AmountZ = 4) before it can fire.
const StdFloor = 0.5

// Score is how many standard deviations ln(amount) lies above the mean of
// c's statistic.
func Score(amount int64, c Counters) float64 {
	return (math.Log(float64(amount)) - c.Mean) / math.Max(math.Sqrt(max(c.Var, 0)), StdFloor)
}

// UnusualAmount fires on an outgoing amount far above what the wallet
// usually spends, judged against an exponentially weighted mean and
// variance of the logarithms of its recent outgoing amounts (Statistic).
// Logarithms, because amounts spread multiplicatively: 50 and 500 are as
// far apart as 5,000 and 50,000.
func UnusualAmount(f Facts, c Counters, t Thresholds) (Finding, bool) {
	if f.Kind == TopUp || t.AmountZ <= 0 || c.Amounts < t.AmountMinHistory || f.Amount <= t.AmountFloor {
		return Finding{}, false
	}
	z := Score(f.Amount, c)
	if z < t.AmountZ {
		return Finding{}, false
	}
	return Finding{Rule: "unusual_amount", Outcome: StepUp,
		Reason: fmt.Sprintf("%d is about %.0f times this wallet's typical amount", f.Amount, float64(f.Amount)/math.Exp(c.Mean))}, true
}
