package merchant

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// DisplayGrace is how long after its order's expiry a display link still
// answers. While the order is open the link shows the order; once the order
// has ended (paid, closed, expired) it tells only that outcome, and after
// the grace nothing at all. An order lives at most Config.MaxExpiry, so a
// link lives at most MaxExpiry + DisplayGrace.
const DisplayGrace = time.Minute

// A display token is base64url(order id (16 bytes) ‖ expiry (Unix seconds,
// 8 bytes, big-endian) ‖ HMAC-SHA-256 of both, first 16 bytes). It is
// stateless, so every replica can check it, and unguessable: forging one
// needs the MAC key. Nothing but the order id and the expiry is in it.
const (
	displayMACLen   = 16
	displayTokenLen = 16 + 8 + displayMACLen
)

// Display is what a checkout display link shows: its order and nothing more.
type Display struct {
	OrderID      string
	MerchantName string
	Amount       int64
	Currency     string
	// Status is the order's state now: created (open), paid (refunds count
	// as paid: the customer did pay), closed or expired.
	Status    string
	QRPayload string
	ExpiresAt time.Time
	// LinkExpiresAt is when the link stops answering at all.
	LinkExpiresAt time.Time
}

// Open reports whether the order can still be paid.
func (d Display) Open() bool { return d.Status == StatusCreated }

// DisplayToken returns the token of o's checkout display link.
func (s *Service) DisplayToken(o Order) (string, error) {
	id, err := uuid.Parse(o.ID)
	if err != nil {
		return "", fmt.Errorf("display token: %w", err)
	}
	buf := make([]byte, 24, displayTokenLen)
	copy(buf, id[:])
	binary.BigEndian.PutUint64(buf[16:], uint64(o.ExpiresAt.Add(DisplayGrace).Unix()))
	return base64.RawURLEncoding.EncodeToString(append(buf, s.displayMAC(buf)...)), nil
}

func (s *Service) displayMAC(b []byte) []byte {
	m := hmac.New(sha256.New, s.keys.display)
	m.Write(b)
	return m.Sum(nil)[:displayMACLen]
}

// errNoDisplay is the one answer to a token that is malformed, forged or
// past its life: the caller learns nothing about which.
var errNoDisplay = errs.E(errs.NotFound, "this display link is unknown or has ended")

// Display reads the order of a display token. A malformed, forged or
// expired token is not found.
func (s *Service) Display(ctx context.Context, token string) (Display, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != displayTokenLen {
		return Display{}, errNoDisplay
	}
	if !hmac.Equal(raw[24:], s.displayMAC(raw[:24])) {
		return Display{}, errNoDisplay
	}
	linkExp := time.Unix(int64(binary.BigEndian.Uint64(raw[16:24])), 0)
	if !s.now().Before(linkExp) {
		return Display{}, errNoDisplay
	}
	id := uuid.UUID(raw[:16]).String()
	o, err := scanOrderRow(s.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders o WHERE o.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Display{}, errNoDisplay
	}
	if err != nil {
		return Display{}, fmt.Errorf("display: %w", err)
	}
	m, err := s.Get(ctx, o.MerchantID)
	if err != nil {
		return Display{}, fmt.Errorf("display: %w", err)
	}
	if o, err = s.completeOrder(o, &m); err != nil {
		return Display{}, fmt.Errorf("display: %w", err)
	}
	status := o.Status
	if status == StatusPartiallyRefunded || status == StatusRefunded {
		status = StatusPaid
	}
	return Display{OrderID: o.ID, MerchantName: m.Name, Amount: o.Amount, Currency: o.Currency, Status: status,
		QRPayload: o.QRPayload, ExpiresAt: o.ExpiresAt, LinkExpiresAt: linkExp}, nil
}
