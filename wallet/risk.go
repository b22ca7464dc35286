package wallet

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/risk"
)

// Risk is what the wallet asks before money moves (risk.Engine): one Redis
// call that counts the movement and decides, and the count of refusals.
type Risk interface {
	Evaluate(ctx context.Context, f risk.Facts) (risk.Decision, risk.Counters, error)
	Declined(ctx context.Context, walletID, key string, now time.Time) error
}

// RiskOptions connect the wallet to the risk checks.
type RiskOptions struct {
	Engine Risk // nil: no risk checks
	// FreezeOnDecline freezes the card of a payment or top-up the rules
	// declined, until its owner unfreezes it.
	FreezeOnDecline bool
	// DeliverAlerts schedules every stored alert for delivery to the
	// operator's webhook; Alerted is called once alerts are stored.
	DeliverAlerts bool
	Alerted       func()
}

// UseRisk turns the risk checks on: every payment, top-up and transfer is
// evaluated before its money moves.
func (s *Service) UseRisk(o RiskOptions) { s.risk = o }

// StepUpProof is what the app sends to show that the wallet's owner is
// there when the risk checks ask for a step-up. Today it is the payment
// PIN, sent even below PIN_THRESHOLD.
type StepUpProof struct {
	PIN string
}

func (p StepUpProof) empty() bool { return p == StepUpProof{} }

// StepUpFunc checks a step-up proof: nil when it holds, an error with the
// code to answer (pin_invalid, account_locked, …) when not.
type StepUpFunc func(ctx context.Context, p Principal, proof StepUpProof) error

// UseStepUp replaces the step-up check, which by default verifies the PIN
// (under the PIN budget and lockout); a check that accepts stronger proofs
// (a device signature, a one-time code) wraps or replaces it.
func (s *Service) UseStepUp(f StepUpFunc) { s.stepUp = f }

// PINStepUp is the default step-up check: the wallet's payment PIN.
func (s *Service) PINStepUp(ctx context.Context, p Principal, proof StepUpProof) error {
	return s.VerifyPIN(ctx, p, proof.PIN)
}

// assessment is the risk decision about one movement.
type assessment struct {
	p     Principal
	facts risk.Facts
	d     risk.Decision
	// proved says the owner proved presence for this movement: a step-up
	// passed, or the PIN a transfer always needs.
	proved bool
}

// assess runs the risk checks on a movement about to be posted: a decline
// refuses it (risk_declined), a step-up without proof refuses it
// (step_up_required, with the reason), a step-up with proof checks the
// proof. proved says the movement's PIN was verified already.
func (s *Service) assess(ctx context.Context, p Principal, f risk.Facts, proof StepUpProof, proved bool) (assessment, error) {
	a := assessment{p: p, facts: f, proved: proved}
	if s.risk.Engine == nil {
		return a, nil
	}
	d, _, err := s.risk.Engine.Evaluate(ctx, f)
	if err != nil {
		return a, err
	}
	a.d = d
	switch d.Outcome {
	case risk.Decline:
		s.declinedByRisk(ctx, a)
		return a, &errs.Error{Code: errs.RiskDeclined, Reason: d.Reason(),
			Message: "declined by the risk checks (" + d.Reason() + "); contact support if this was you"}
	case risk.StepUp:
		if a.proved {
			break
		}
		if proof.empty() {
			return a, &errs.Error{Code: errs.StepUpRequired, Reason: d.Reason(),
				Message: "confirm it is you: send the request again with the payment PIN (" + d.Reason() + ")"}
		}
		check := s.stepUp
		if check == nil {
			check = s.PINStepUp
		}
		if err := check(ctx, p, proof); err != nil {
			return a, err
		}
		a.proved = true
	}
	return a, nil
}

// settled stores the alerts of a movement that went through, after its
// commit: never before, so an alert names only a transfer that exists.
func (s *Service) settled(ctx context.Context, a assessment, transferID string) {
	if a.d.Outcome >= risk.AllowAlert {
		s.storeAlerts(ctx, a, transferID)
	}
}

// declinedByRisk stores the alerts of a declined movement and, when
// configured, freezes its card.
func (s *Service) declinedByRisk(ctx context.Context, a assessment) {
	s.storeAlerts(ctx, a, "")
	if !s.risk.FreezeOnDecline || a.facts.CardID == "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := s.SetFrozen(ctx, a.p, a.facts.CardID, true); err != nil {
		s.log.WarnContext(ctx, "freezing a card after a risk decline failed", "card_id", a.facts.CardID, "err", err)
	}
}

// storeAlerts writes the decision's alerts and the wallet's feed entry in
// one transaction. A failure is logged: the movement's answer stands.
func (s *Service) storeAlerts(ctx context.Context, a assessment, transferID string) {
	ctx = context.WithoutCancel(ctx)
	alerts := risk.NewAlerts(a.facts, a.d, transferID, s.now())
	if len(alerts) == 0 {
		return
	}
	err := postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		for _, al := range alerts {
			if err := risk.InsertAlert(ctx, tx, al, s.risk.DeliverAlerts); err != nil {
				return err
			}
		}
		return notify(ctx, tx, a.p.AccountID, NoticeAlert, noticeData{Reason: a.d.Reason(), Rule: alerts[0].Rule})
	})
	if err != nil {
		s.log.WarnContext(ctx, "storing risk alerts failed", "wallet_id", a.facts.WalletID, "err", err)
		return
	}
	if s.risk.Alerted != nil {
		s.risk.Alerted()
	}
}

// refused counts a refused attempt for the repeated declines rule: the
// refusals a customer meets when someone else is trying their wallet.
func (s *Service) refused(ctx context.Context, p Principal, key string, err error) {
	if s.risk.Engine == nil || err == nil {
		return
	}
	switch errs.CodeOf(err) {
	case errs.InsufficientFunds, errs.LimitExceeded, errs.CardDeclined, errs.CardFrozen, errs.PINInvalid, errs.RiskDeclined:
	default:
		return
	}
	if rerr := s.risk.Engine.Declined(context.WithoutCancel(ctx), p.WalletID, key, s.now()); rerr != nil {
		s.log.WarnContext(ctx, "counting a refusal for the risk checks failed", "err", rerr)
	}
}
