package wallet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/qrpay/qrpay/errs"
)

// Issuer is the bank behind a card. Binding asks it to verify the card and
// returns its reference for the card (a network token), so the card number
// need not be kept; a top-up or a card-funded payment asks it to authorize a
// charge; a withdrawal or a refund to the card asks it to credit the card.
type Issuer interface {
	// Verify checks a card at binding and returns the issuer's reference.
	Verify(ctx context.Context, number string, expMonth, expYear int) (ref string, err error)
	// Authorize approves charging amount to the card, or declines with
	// errs.CardDeclined (or errs.Unavailable when the issuer cannot answer).
	Authorize(ctx context.Context, ref string, amount int64, currency string) error
	// Void cancels an authorization whose top-up could not be posted.
	Void(ctx context.Context, ref string, amount int64, currency string) error
	// Credit pushes amount to the card (a withdrawal, a refund of a
	// card-funded payment). It declines with errs.CardDeclined or answers
	// errs.Unavailable when the issuer could not take the request; any
	// other error leaves the outcome unknown. reference names the credit
	// (the issuer's idempotency key for the push): a credit asked again
	// under a reference the issuer has made is answered as made and not
	// made twice, so an unknown outcome is settled by asking again.
	Credit(ctx context.Context, ref string, amount int64, currency, reference string) error
}

// Test card numbers that make SimulatedIssuer decline. Any other number that
// passes the Luhn check is approved up to SimulatedIssuer's own maximum.
// docs/cards.md lists them.
const (
	TestCardDeclined     = "4000000000000002" // every charge: card_declined (do not honour)
	TestCardNoFunds      = "4000000000009995" // every charge: card_declined (insufficient funds at the issuer)
	TestCardLost         = "4000000000009987" // binding refused: card_declined (lost card)
	TestCardIssuerDown   = "4000000000000119" // every charge: unavailable (the issuer timed out)
	TestCardExpiredByBan = "4000000000000069" // binding refused: card_declined (expired per the issuer)
)

// SimulatedIssuer is an in-process issuer. It approves charges up to
// MaxCharge and declines the test cards above, so every decline path can be
// exercised without a bank.
type SimulatedIssuer struct {
	MaxCharge int64 // largest single charge it approves (minor units)
}

// Verify implements Issuer.
func (s SimulatedIssuer) Verify(_ context.Context, number string, _, _ int) (string, error) {
	behaviour := "ok"
	switch number {
	case TestCardLost:
		return "", errs.E(errs.CardDeclined, "the issuer declined the card: lost card")
	case TestCardExpiredByBan:
		return "", errs.E(errs.CardDeclined, "the issuer declined the card: expired card")
	case TestCardDeclined:
		behaviour = "decline"
	case TestCardNoFunds:
		behaviour = "nofunds"
	case TestCardIssuerDown:
		behaviour = "down"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "sim_" + behaviour + "_" + hex.EncodeToString(b), nil
}

// Authorize implements Issuer.
func (s SimulatedIssuer) Authorize(_ context.Context, ref string, amount int64, _ string) error {
	switch {
	case strings.HasPrefix(ref, "sim_decline_"):
		return errs.E(errs.CardDeclined, "the issuer declined the charge: do not honour")
	case strings.HasPrefix(ref, "sim_nofunds_"):
		return errs.E(errs.CardDeclined, "the issuer declined the charge: insufficient funds on the card")
	case strings.HasPrefix(ref, "sim_down_"):
		return errs.E(errs.Unavailable, "the card issuer did not answer; try again")
	case !strings.HasPrefix(ref, "sim_ok_"):
		return errs.E(errs.CardDeclined, "the issuer does not know this card")
	case s.MaxCharge > 0 && amount > s.MaxCharge:
		return errs.E(errs.CardDeclined, "the issuer declined the charge: over the card's limit at the issuer")
	}
	return nil
}

// Void implements Issuer; the simulation holds no authorizations.
func (s SimulatedIssuer) Void(context.Context, string, int64, string) error { return nil }

// Credit implements Issuer: the simulation accepts credits to any card it
// knows that is not the issuer-down test card.
// It keeps nothing, so a credit asked again is made again, harmlessly.
func (s SimulatedIssuer) Credit(_ context.Context, ref string, _ int64, _, _ string) error {
	switch {
	case strings.HasPrefix(ref, "sim_down_"):
		return errs.E(errs.Unavailable, "the card issuer did not answer; try again")
	case !strings.HasPrefix(ref, "sim_"):
		return errs.E(errs.CardDeclined, "the issuer does not know this card")
	}
	return nil
}
