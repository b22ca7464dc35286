package risk

import (
	"fmt"
	"strings"
	"time"
)

// NewRecipient fires on a transfer to a wallet opened minutes ago, the
// shape of a scam that has its victim send money to a fresh mule wallet:
// an alert, and a refusal from a large amount up.
func NewRecipient(f Facts, c Counters, t Thresholds) (Finding, bool) {
	if f.Kind != Transfer || f.RecipientCreatedAt.IsZero() || t.NewRecipientAge <= 0 {
		return Finding{}, false
	}
	age := f.Now.Sub(f.RecipientCreatedAt)
	if age >= t.NewRecipientAge {
		return Finding{}, false
	}
	fd := Finding{Rule: "new_recipient", Outcome: AllowAlert,
		Reason: fmt.Sprintf("the recipient's wallet was opened %s ago", roundAge(age))}
	if t.NewRecipientDeclineAmount > 0 && f.Amount >= t.NewRecipientDeclineAmount {
		fd.Outcome = Decline
	}
	return fd, true
}

// roundAge writes a duration as people read it: 45s, 3m, 2h5m.
func roundAge(d time.Duration) string {
	if d < time.Second {
		return "less than a second"
	}
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
