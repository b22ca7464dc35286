package wallet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/otp"
)

// Device is a device the wallet has signed in from, as its owner sees it.
type Device struct {
	DeviceID        string     `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B"`
	Name            string     `json:"name,omitempty" example:"Li Lei's iPhone"`
	ApprovalKey     bool       `json:"approval_key" example:"true" doc:"Whether the device has a registered key it approves payments and transfers with."`
	KeyRegisteredAt *time.Time `json:"key_registered_at"`
	FirstSeenAt     time.Time  `json:"first_seen_at"`
	LastSeenAt      time.Time  `json:"last_seen_at"`
}

var deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// checkDeviceID validates a device id; optional allows none.
func checkDeviceID(id string, optional bool) error {
	if id == "" && optional {
		return nil
	}
	if !deviceIDRE.MatchString(id) {
		return errs.E(errs.Invalid, "device_id must be 1 to 128 of A-Z a-z 0-9 . _ : -")
	}
	return nil
}

// seeDevice remembers that the wallet signed in from a device (after a
// one-time code, or at registration). A revoked device seen again comes
// back without its key: the key must be registered again.
func seeDevice(ctx context.Context, q ledger.Querier, walletID, deviceID string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO devices (customer_id, device_id, first_seen_at, last_seen_at)
		VALUES ($1, $2, $3, $3)
		ON CONFLICT (customer_id, device_id) DO UPDATE SET last_seen_at = $3,
			public_key = CASE WHEN devices.revoked_at IS NULL THEN devices.public_key END,
			key_registered_at = CASE WHEN devices.revoked_at IS NULL THEN devices.key_registered_at END,
			revoked_at = NULL`, walletID, deviceID, now)
	return err
}

// Devices lists the wallet's devices (revoked ones are forgotten).
func (s *Service) Devices(ctx context.Context, p Principal) ([]Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT device_id, name, public_key IS NOT NULL, key_registered_at, first_seen_at, last_seen_at
		FROM devices WHERE customer_id = $1 AND revoked_at IS NULL ORDER BY first_seen_at, device_id`, p.WalletID)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	list := []Device{}
	for rows.Next() {
		var d Device
		if err := rows.Scan(&d.DeviceID, &d.Name, &d.ApprovalKey, &d.KeyRegisteredAt, &d.FirstSeenAt, &d.LastSeenAt); err != nil {
			return nil, fmt.Errorf("devices: %w", err)
		}
		list = append(list, d)
	}
	return list, rows.Err()
}

// DeviceKeyInput registers a device's approval key: an ECDSA P-256 public
// key, base64 (standard alphabet) of its DER SubjectPublicKeyInfo.
type DeviceKeyInput struct {
	DeviceID, PublicKey, Name string
	OTP                       *OTP
}

// RegisterDeviceKey gives a device a key it approves payments and
// transfers with, after a one-time code bound to the device and the key.
// The device becomes one the wallet has seen. A device's new key replaces
// its old one.
func (s *Service) RegisterDeviceKey(ctx context.Context, p Principal, in DeviceKeyInput) (Device, error) {
	if err := checkDeviceID(in.DeviceID, false); err != nil {
		return Device{}, err
	}
	if len([]rune(in.Name)) > 64 {
		return Device{}, errs.E(errs.Invalid, "name must be at most 64 characters")
	}
	der, err := base64.StdEncoding.DecodeString(in.PublicKey)
	if err != nil {
		return Device{}, errs.E(errs.Invalid, "public_key must be base64 of a DER SubjectPublicKeyInfo")
	}
	if _, err := parseDeviceKey(der); err != nil {
		return Device{}, err
	}
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return Device{}, err
	}
	if err := active(w); err != nil {
		return Device{}, err
	}
	keyHash := sha256.Sum256(der)
	if err := s.requireCode(ctx, in.OTP, w.Phone, PurposeRegisterDevice, w.ID,
		in.DeviceID+"\n"+base64.RawURLEncoding.EncodeToString(keyHash[:])); err != nil {
		return Device{}, err
	}
	now := s.now()
	if err := seeDevice(ctx, s.pool, w.ID, in.DeviceID, now); err != nil {
		return Device{}, fmt.Errorf("register device: %w", err)
	}
	var d Device
	err = s.pool.QueryRow(ctx, `UPDATE devices SET public_key = $3, key_registered_at = $4, name = $5
		WHERE customer_id = $1 AND device_id = $2
		RETURNING device_id, name, true, key_registered_at, first_seen_at, last_seen_at`,
		w.ID, in.DeviceID, der, now, in.Name).Scan(&d.DeviceID, &d.Name, &d.ApprovalKey, &d.KeyRegisteredAt, &d.FirstSeenAt, &d.LastSeenAt)
	if err != nil {
		return Device{}, fmt.Errorf("register device: %w", err)
	}
	return d, nil
}

// RevokeDevice forgets a device: its key approves nothing from now on (it
// is read fresh for every approval, from PostgreSQL, with no cache), and
// signing in from it needs a one-time code again.
func (s *Service) RevokeDevice(ctx context.Context, p Principal, deviceID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE devices SET revoked_at = $3, public_key = NULL, key_registered_at = NULL
		WHERE customer_id = $1 AND device_id = $2 AND revoked_at IS NULL`, p.WalletID, deviceID, s.now())
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "device not found")
	}
	return nil
}

func parseDeviceKey(der []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errs.E(errs.Invalid, "public_key is not a DER SubjectPublicKeyInfo")
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errs.E(errs.Invalid, "public_key must be an ECDSA P-256 key")
	}
	return ek, nil
}

// Approval is a device's signature approving one payment or transfer, in
// place of the PIN.
type Approval struct {
	ChallengeID string `json:"challenge_id" example:"ap_KZ2VQ4NJ3MDGX7YB5A6RWTE3HC"`
	DeviceID    string `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B"`
	Signature   string `json:"signature" example:"MEUCIQ…" doc:"Base64 of the ASN.1 DER ECDSA signature (SHA-256) over the challenge's message bytes."`
}

// ApprovalInput asks for a challenge to approve one operation: what the
// payment or transfer request will carry, exactly.
type ApprovalInput struct {
	DeviceID string
	Kind     string // payment or transfer
	Amount   int64
	Currency string
	// Payee is who is paid: order:<id> (a dynamic QR or an order),
	// merchant:<id> (a static QR) or wallet:<id> (a transfer).
	Payee string
	// Key is the Idempotency-Key the request will carry.
	Key string
}

// ApprovalChallenge is what the device signs.
type ApprovalChallenge struct {
	ChallengeID string    `json:"challenge_id" example:"ap_KZ2VQ4NJ3MDGX7YB5A6RWTE3HC"`
	Nonce       string    `json:"nonce" example:"6jX0c2b1Qm9rZXlzLWFyZS1mdW4"`
	ExpiresAt   time.Time `json:"expires_at"`
	Message     string    `json:"message" example:"qrpay-approval-v1\nchallenge:ap_…\nnonce:…\nexpires_at:1764037860\nwallet:…\ndevice:…\nkind:payment\namount:1200\ncurrency:CNY\npayee:order:…\nidempotency_key:pay-1" doc:"The exact bytes (UTF-8) to sign."`
}

// NewApproval makes a challenge for the device to sign. The device must
// have a registered key.
func (s *Service) NewApproval(ctx context.Context, p Principal, in ApprovalInput) (ApprovalChallenge, error) {
	if err := checkDeviceID(in.DeviceID, false); err != nil {
		return ApprovalChallenge{}, err
	}
	if in.Key == "" || len(in.Key) > 255 {
		return ApprovalChallenge{}, errs.E(errs.Invalid, "idempotency_key must be the 1 to 255 character Idempotency-Key the request will carry")
	}
	if err := validAmount(in.Amount); err != nil {
		return ApprovalChallenge{}, err
	}
	if s.sec.Approvals == nil {
		return ApprovalChallenge{}, errs.E(errs.Unavailable, "approvals are not configured")
	}
	var key []byte
	err := s.pool.QueryRow(ctx, `SELECT public_key FROM devices
		WHERE customer_id = $1 AND device_id = $2 AND revoked_at IS NULL`, p.WalletID, in.DeviceID).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && key == nil) {
		return ApprovalChallenge{}, errs.E(errs.NotFound, "the device has no registered approval key")
	}
	if err != nil {
		return ApprovalChallenge{}, fmt.Errorf("new approval: %w", err)
	}
	c, err := s.sec.Approvals.Create(ctx, approvalOp(p.WalletID, in), s.now())
	if err != nil {
		return ApprovalChallenge{}, err
	}
	return ApprovalChallenge{ChallengeID: c.ID, Nonce: c.Nonce, ExpiresAt: c.ExpiresAt, Message: c.Message}, nil
}

func approvalOp(walletID string, in ApprovalInput) string {
	return otp.Operation(
		[2]string{"wallet", walletID}, [2]string{"device", in.DeviceID}, [2]string{"kind", in.Kind},
		[2]string{"amount", strconv.FormatInt(in.Amount, 10)}, [2]string{"currency", in.Currency},
		[2]string{"payee", in.Payee}, [2]string{"idempotency_key", in.Key})
}

// checkApproval uses up the approval's challenge for the operation in and
// verifies its signature with the device's key (nil: the device has none,
// or was revoked).
func (s *Service) checkApproval(ctx context.Context, p Principal, a *Approval, in ApprovalInput, key []byte) error {
	if s.sec.Approvals == nil {
		return errs.E(errs.Unavailable, "approvals are not configured")
	}
	if key == nil {
		return errs.E(errs.ApprovalInvalid, "the device is unknown, revoked or has no approval key")
	}
	in.DeviceID = a.DeviceID
	msg, err := s.sec.Approvals.Take(ctx, a.ChallengeID, approvalOp(p.WalletID, in), s.now())
	if err != nil {
		return err
	}
	pub, err := parseDeviceKey(key)
	if err != nil {
		return errs.E(errs.ApprovalInvalid, "the device's key is unusable")
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil {
		return errs.E(errs.ApprovalInvalid, "approval.signature must be base64")
	}
	digest := sha256.Sum256([]byte(msg))
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return errs.E(errs.ApprovalInvalid, "the approval's signature does not verify")
	}
	return nil
}

// deviceKey reads a device's approval key, nil when it has none or was
// revoked.
func (s *Service) deviceKey(ctx context.Context, walletID, deviceID string) ([]byte, error) {
	var key []byte
	err := s.pool.QueryRow(ctx, `SELECT public_key FROM devices
		WHERE customer_id = $1 AND device_id = $2 AND revoked_at IS NULL`, walletID, deviceID).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	return key, nil
}

// TransferApprovalInput asks for a challenge approving a transfer: its
// recipient (by phone or wallet id), amount and Idempotency-Key.
type TransferApprovalInput struct {
	ToPhone, ToWalletID string
	Amount              int64
	DeviceID            string
	IdempotencyKey      string
}

// TransferApproval makes the challenge a device signs to approve a
// transfer in place of the PIN.
func (s *Service) TransferApproval(ctx context.Context, p Principal, in TransferApprovalInput) (ApprovalChallenge, error) {
	if (in.ToPhone == "") == (in.ToWalletID == "") {
		return ApprovalChallenge{}, errs.E(errs.Invalid, "give exactly one of to_phone and to_wallet_id")
	}
	from, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return ApprovalChallenge{}, err
	}
	to, err := s.recipient(ctx, in.ToPhone, in.ToWalletID)
	if err != nil {
		return ApprovalChallenge{}, err
	}
	return s.NewApproval(ctx, p, ApprovalInput{DeviceID: in.DeviceID, Kind: "transfer", Amount: in.Amount,
		Currency: from.Currency, Payee: "wallet:" + to.ID, Key: in.IdempotencyKey})
}
