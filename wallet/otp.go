package wallet

import (
	"context"
	"log/slog"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/ratelimit"
)

// Purpose is what a one-time code is for. A code is bound to its purpose,
// to the wallet (or, before there is one, the phone number) and to the
// operation's parameters: it verifies for nothing else.
type Purpose string

// The purposes.
const (
	PurposeRegister       Purpose = "register"              // a new wallet for a phone number
	PurposeLogin          Purpose = "login"                 // a sign-in from a device the wallet has not seen
	PurposeBindCard       Purpose = "bind_card"             // binding a card (by its number and expiry)
	PurposeCardLimits     Purpose = "raise_card_limits"     // raising a card's limits (to the values asked)
	PurposeTransfer       Purpose = "transfer"              // a transfer above OTPTransferThreshold (amount and recipient)
	PurposeTransferLimits Purpose = "raise_transfer_limits" // raising the wallet's transfer limits
	PurposeClose          Purpose = "close_wallet"          // closing the wallet
	PurposeRegisterDevice Purpose = "register_device"       // registering a device's approval key
	PurposeUnfreeze       Purpose = "unfreeze_wallet"       // unfreezing the wallet
	PurposeChangePassword Purpose = "change_password"       // changing the sign-in password
	PurposeWithdraw       Purpose = "withdraw"              // a withdrawal above OTPTransferThreshold (amount and card)
)

// OTP is a one-time code as a request carries it: the challenge it answers
// and the code the customer received.
type OTP struct {
	ChallengeID string `json:"challenge_id" example:"ch_KZ2VQ4NJ3MDGX7YB5A6RWTE3HC"`
	Code        string `json:"code" example:"123456" doc:"The six digits sent to the wallet's phone."`
}

// Challenge is a one-time code just sent: an answer of otp_required
// carries it, and the request is sent again with the code as
// {"otp": {"challenge_id", "code"}}.
type Challenge struct {
	ID        string    `json:"challenge_id" example:"ch_KZ2VQ4NJ3MDGX7YB5A6RWTE3HC"`
	Purpose   Purpose   `json:"purpose" example:"bind_card" enum:"register,login,bind_card,raise_card_limits,transfer,raise_transfer_limits,close_wallet,register_device,unfreeze_wallet,change_password,withdraw"`
	Channel   string    `json:"channel" example:"sms" enum:"sms"`
	SentTo    string    `json:"sent_to" example:"+86138****8000" doc:"The phone number the code went to, masked."`
	ExpiresAt time.Time `json:"expires_at"`
}

// ChallengeRequired is the error of an operation that needs a one-time
// code and got none: a code was sent, and Challenge says which. Its code
// is otp_required.
type ChallengeRequired struct {
	Challenge Challenge
	err       *errs.Error
}

func (e *ChallengeRequired) Error() string { return e.err.Error() }

// Unwrap makes errs.CodeOf and errors.As see otp_required.
func (e *ChallengeRequired) Unwrap() error { return e.err }

// Notifier delivers one-time codes to customers' phones. An SMS provider
// plugs in here; LogNotifier writes them to the log.
type Notifier interface {
	Send(ctx context.Context, m otp.Message) error
}

// LogNotifier "delivers" codes by writing them to the log, one line per
// code. That line is the only one that ever holds a code.
type LogNotifier struct{ Log *slog.Logger }

// Send logs the code.
func (n LogNotifier) Send(ctx context.Context, m otp.Message) error {
	n.Log.InfoContext(ctx, "one-time code sent", "to", maskPhone(m.Phone), "purpose", m.Purpose,
		"challenge_id", m.ChallengeID, "code", m.Code, "expires_at", m.ExpiresAt)
	return nil
}

// OutboxNotifier logs each code and keeps it in an otp.Outbox, where the
// operator API (and tests) can read it: for development and load tests.
type OutboxNotifier struct {
	Log    LogNotifier
	Outbox *otp.Outbox
}

// Send logs the code and keeps it in the outbox.
func (n OutboxNotifier) Send(ctx context.Context, m otp.Message) error {
	if err := n.Log.Send(ctx, m); err != nil {
		return err
	}
	return n.Outbox.Put(ctx, m)
}

// Security is what the wallet's second factors are kept in: one-time codes
// and their delivery, approval challenges, and the transfer limit counters
// (a limits.Store of its own, keyed by wallet).
type Security struct {
	Codes          *otp.Codes
	Approvals      *otp.Approvals
	TransferLimits *limits.Store
	Notifier       Notifier
}

// Securing gives the service its second factors; call it before first use.
// Without them, every operation that needs a code fails closed.
func (s *Service) Securing(sec Security) *Service {
	s.sec = sec
	return s
}

// requireCode checks the one-time code of an operation for spec, or, when
// the request carries none, sends a new code to phone and answers
// otp_required with its challenge. Issuing is budgeted per phone number
// (OTPPerPhone), so nobody can have a phone flooded with messages.
func (s *Service) requireCode(ctx context.Context, code *OTP, phone string, purpose Purpose, subject, binding string) error {
	if s.sec.Codes == nil || s.sec.Notifier == nil {
		return errs.E(errs.Unavailable, "one-time codes are not configured")
	}
	spec := otp.Spec{Purpose: string(purpose), Subject: subject, Binding: binding}
	now := s.now()
	if code != nil && (code.ChallengeID != "" || code.Code != "") {
		return s.sec.Codes.Verify(ctx, code.ChallengeID, code.Code, spec, now)
	}
	if err := s.spend(ctx, "otp:phone:"+ratelimit.Subject(s.subjectKey, phone), s.cfg.OTPPerPhone, now,
		"too many one-time codes sent to this phone number"); err != nil {
		return err
	}
	id, c, expires, err := s.sec.Codes.Issue(ctx, spec, now)
	if err != nil {
		return err
	}
	if err := s.sec.Notifier.Send(ctx, otp.Message{ChallengeID: id, Phone: phone, Purpose: string(purpose),
		Code: c, ExpiresAt: expires}); err != nil {
		return errs.Wrap(errs.Unavailable, err, "the one-time code could not be sent; try again shortly")
	}
	return &ChallengeRequired{
		Challenge: Challenge{ID: id, Purpose: purpose, Channel: "sms", SentTo: maskPhone(phone), ExpiresAt: expires},
		err:       errs.E(errs.OTPRequired, "this operation needs a one-time code: one was sent to %s", maskPhone(phone)),
	}
}
