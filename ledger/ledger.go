// Package ledger is qrpay's double-entry ledger in PostgreSQL.
//
// Money is int64 minor units of one ISO 4217 currency per account. A
// transfer is a set of postings that sums to zero, so the sum over all
// accounts never changes; money enters and leaves only through accounts of
// kind clearing (card issuers) and payout (merchants' banks), which may go
// negative. Every other account that may not go negative never does.
//
// Post returns after its own transfer has committed, but transfers are
// committed together in batches by a few committer goroutines: see commit.go.
package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qrpay/qrpay/errs"
)

// Kind is an account's role in the chart of accounts.
type Kind string

// The kinds of account.
const (
	Wallet   Kind = "wallet"   // a customer's wallet; never negative
	Merchant Kind = "merchant" // what the gateway owes a merchant until settlement
	Fee      Kind = "fee"      // the gateway's fee income
	Payout   Kind = "payout"   // a merchant's bank: settlement moves money here
	Clearing Kind = "clearing" // a card issuer: top-ups come from here
	Transit  Kind = "transit"  // money between a wallet and an issuer: a withdrawal awaiting the issuer's answer; never negative
)

// MaxAmount bounds any single posting (10^15 minor units) so that sums of a
// transfer's postings can never overflow int64.
const MaxAmount int64 = 1_000_000_000_000_000

// Account is a ledger account.
type Account struct {
	ID            int64
	Owner         string
	Kind          Kind
	Currency      string
	Balance       int64
	AllowNegative bool
	Closed        bool
	CreatedAt     time.Time
}

// Posting moves Amount (signed) into or out of an account. BalanceAfter is
// the account's balance right after it, set by the ledger.
type Posting struct {
	AccountID    int64 `json:"account_id"`
	Amount       int64 `json:"amount"`
	BalanceAfter int64 `json:"balance_after"`
}

// Transfer is one atomic movement of money.
type Transfer struct {
	ID       uuid.UUID
	Kind     string
	Currency string
	Postings []Posting
	// Scope and Key make the transfer idempotent: a second Post with the same
	// pair returns the first transfer, or idempotency_mismatch when
	// Fingerprint differs. Scope is the caller (a wallet, a merchant).
	Scope       string
	Key         string
	Fingerprint []byte
	// Route is the account whose transfers should be committed by one
	// committer: the hot one, such as the merchant a payment or refund
	// touches. Zero routes by the largest credit.
	Route int64
	// Links are the typed references the transfer is stored with.
	Links Links
	// Metadata is for display only: nothing selects by its keys.
	Metadata json.RawMessage
	// Order, when set, is what the transfer does to a merchant order; it
	// commits with the transfer or the transfer fails (see OrderChange). It
	// is not read back.
	Order *OrderChange
	// Feed, when set, is the wallet feed entry of the transfer for the
	// wallet account it names, in place of the one its posting on that
	// account would make (if any): a payment or refund the card funded in
	// whole or in part is the wallet's whole payment or refund, whichever
	// account the money moved on. The batch locks the account with the
	// transfer's own, so the account's entries keep their commit order.
	Feed      *FeedEntry
	CreatedAt time.Time
	// Replayed is set when Post returned a transfer committed earlier.
	Replayed bool
}

// FeedEntry is a wallet feed entry a transfer makes explicitly: the
// wallet's account and the signed amount the wallet sees.
type FeedEntry struct {
	AccountID int64
	Amount    int64
}

// Amount is the money the transfer moves: the sum of its credits.
func (t *Transfer) Amount() int64 {
	var sum int64
	for _, p := range t.Postings {
		if p.Amount > 0 {
			sum += p.Amount
		}
	}
	return sum
}

// Posting returns the posting on account id.
func (t *Transfer) Posting(accountID int64) (Posting, bool) {
	for _, p := range t.Postings {
		if p.AccountID == accountID {
			return p, true
		}
	}
	return Posting{}, false
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// validate checks what can be checked without the database and fills the
// defaults (id, fingerprint). Nothing is written for an invalid transfer.
func (t *Transfer) validate() error {
	switch {
	case t.Kind == "" || len(t.Kind) > 64:
		return errs.E(errs.Invalid, "transfer kind must be 1 to 64 characters")
	case !currencyRE.MatchString(t.Currency):
		return errs.E(errs.Invalid, "currency %q is not an ISO 4217 code", t.Currency)
	case t.Scope == "" || len(t.Scope) > 128:
		return errs.E(errs.Invalid, "idempotency scope must be 1 to 128 characters")
	case t.Key == "" || len(t.Key) > 255:
		return errs.E(errs.Invalid, "idempotency key must be 1 to 255 characters")
	case len(t.Postings) < 2:
		return errs.E(errs.Invalid, "a transfer needs at least two postings")
	}
	var sum int64
	seen := make(map[int64]bool, len(t.Postings))
	for _, p := range t.Postings {
		switch {
		case p.Amount == 0:
			return errs.E(errs.Invalid, "posting to account %d has a zero amount", p.AccountID)
		case p.Amount > MaxAmount || p.Amount < -MaxAmount:
			return errs.E(errs.Invalid, "posting to account %d exceeds the maximum amount", p.AccountID)
		case seen[p.AccountID]:
			return errs.E(errs.Invalid, "account %d is posted to twice", p.AccountID)
		}
		seen[p.AccountID] = true
		sum += p.Amount
	}
	if sum != 0 {
		return errs.E(errs.Invalid, "postings sum to %d, not zero", sum)
	}
	if len(t.Metadata) == 0 {
		t.Metadata = json.RawMessage(`{}`)
	} else if !json.Valid(t.Metadata) || t.Metadata[0] != '{' {
		return errs.E(errs.Invalid, "transfer metadata must be a JSON object")
	}
	if t.Order != nil {
		if err := t.Order.validate(); err != nil {
			return err
		}
	}
	if f := t.Feed; f != nil && (f.AccountID <= 0 || f.Amount == 0 || f.Amount > MaxAmount || f.Amount < -MaxAmount) {
		return errs.E(errs.Invalid, "a feed entry needs an account and a non-zero amount within the maximum")
	}
	if t.ID == uuid.Nil {
		t.ID = uuid.Must(uuid.NewV7())
	}
	if len(t.Fingerprint) == 0 {
		t.Fingerprint = t.contentHash()
	}
	return nil
}

// detached returns a copy of t that shares no memory with the caller's:
// a committer may still hold it after the caller has gone (its context
// ended) and reused its buffers.
func (t Transfer) detached() Transfer {
	t.Kind, t.Currency = strings.Clone(t.Kind), strings.Clone(t.Currency)
	t.Scope, t.Key = strings.Clone(t.Scope), strings.Clone(t.Key)
	t.Postings = slices.Clone(t.Postings)
	t.Fingerprint = bytes.Clone(t.Fingerprint)
	t.Metadata = bytes.Clone(t.Metadata)
	t.Links.MCC, t.Links.Funding = strings.Clone(t.Links.MCC), strings.Clone(t.Links.Funding)
	if t.Order != nil {
		c := *t.Order
		c.Event.Payload = bytes.Clone(c.Event.Payload)
		if c.Refund != nil {
			r := *c.Refund
			c.Refund = &r
		}
		t.Order = &c
	}
	if t.Feed != nil {
		f := *t.Feed
		t.Feed = &f
	}
	return t
}

// contentHash fingerprints what the transfer does, for callers that have no
// request body of their own to fingerprint.
func (t *Transfer) contentHash() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", t.Kind, t.Currency)
	for _, p := range t.Postings {
		_ = binary.Write(h, binary.BigEndian, [2]int64{p.AccountID, p.Amount})
	}
	h.Write(t.Metadata)
	return h.Sum(nil)
}

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const accountColumns = `id, owner, kind, currency, balance, allow_negative, closed_at IS NOT NULL, created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.Owner, &a.Kind, &a.Currency, &a.Balance, &a.AllowNegative, &a.Closed, &a.CreatedAt)
	return a, err
}

// CreateAccount opens an account, or returns the one that owner already has
// of that kind and currency. It takes a Querier so that an account can be
// opened in the same transaction as what owns it.
func CreateAccount(ctx context.Context, q Querier, owner string, kind Kind, currency string) (Account, error) {
	if !currencyRE.MatchString(currency) {
		return Account{}, errs.E(errs.Invalid, "currency %q is not an ISO 4217 code", currency)
	}
	if owner == "" {
		return Account{}, errs.E(errs.Invalid, "account owner is required")
	}
	// Only issuers' clearing and merchants' payout accounts stand for money
	// outside the ledger; merchant accounts may be driven below zero by a
	// refund before the day's payments arrive, and settlement nets it.
	allowNegative := kind == Clearing || kind == Payout || kind == Merchant
	row := q.QueryRow(ctx, `
		INSERT INTO accounts (owner, kind, currency, allow_negative) VALUES ($1, $2, $3, $4)
		ON CONFLICT (owner, kind, currency) DO UPDATE SET owner = EXCLUDED.owner
		RETURNING `+accountColumns, owner, kind, currency, allowNegative)
	a, err := scanAccount(row)
	if err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// GetAccount reads an account.
func GetAccount(ctx context.Context, q Querier, id int64) (Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, errs.E(errs.NotFound, "account %d not found", id)
	}
	if err != nil {
		return Account{}, fmt.Errorf("get account: %w", err)
	}
	return a, nil
}

// CloseAccount closes an account whose balance is zero. It locks the row, so
// it serialises with every transfer touching the account: a transfer either
// committed before (and the balance shows it) or fails with account_closed.
func CloseAccount(ctx context.Context, tx pgx.Tx, id int64) error {
	var balance int64
	err := tx.QueryRow(ctx, `SELECT balance FROM accounts WHERE id = $1 FOR UPDATE`, id).Scan(&balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.E(errs.NotFound, "account %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("close account: %w", err)
	}
	if balance != 0 {
		return errs.E(errs.Conflict, "the balance must be zero to close; it is %d", balance)
	}
	if _, err := tx.Exec(ctx, `UPDATE accounts SET closed_at = coalesce(closed_at, now()) WHERE id = $1`, id); err != nil {
		return fmt.Errorf("close account: %w", err)
	}
	return nil
}

const transferColumns = `id, kind, currency, idem_scope, idem_key, fingerprint, metadata, created_at,
	wallet_id, card_id, merchant_id, order_id, coalesce(mcc, ''), coalesce(funding, '')`

// GetTransfer reads a transfer and its postings.
func GetTransfer(ctx context.Context, q Querier, id uuid.UUID) (Transfer, error) {
	ts, err := loadTransfers(ctx, q, `WHERE id = $1`, id)
	if err != nil {
		return Transfer{}, err
	}
	if len(ts) == 0 {
		return Transfer{}, errs.E(errs.NotFound, "transfer %s not found", id)
	}
	return ts[0], nil
}

// TransferByKey reads the transfer committed under an idempotency key, if any.
func TransferByKey(ctx context.Context, q Querier, scope, key string) (Transfer, bool, error) {
	ts, err := loadTransfers(ctx, q, `WHERE idem_scope = $1 AND idem_key = $2`, scope, key)
	if err != nil || len(ts) == 0 {
		return Transfer{}, false, err
	}
	return ts[0], true, nil
}

// loadTransfers reads the transfers selected by where, with their postings.
func loadTransfers(ctx context.Context, q Querier, where string, args ...any) ([]Transfer, error) {
	rows, err := q.Query(ctx, `SELECT `+transferColumns+` FROM transfers `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("load transfers: %w", err)
	}
	var ts []Transfer
	index := map[uuid.UUID]int{}
	for rows.Next() {
		var t Transfer
		var meta []byte
		var wallet, card, merchant, order *uuid.UUID
		if err := rows.Scan(&t.ID, &t.Kind, &t.Currency, &t.Scope, &t.Key, &t.Fingerprint, &meta, &t.CreatedAt,
			&wallet, &card, &merchant, &order, &t.Links.MCC, &t.Links.Funding); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load transfers: %w", err)
		}
		t.Metadata = meta
		for _, l := range []struct{ from, to *uuid.UUID }{{wallet, &t.Links.WalletID}, {card, &t.Links.CardID},
			{merchant, &t.Links.MerchantID}, {order, &t.Links.OrderID}} {
			if l.from != nil {
				*l.to = *l.from
			}
		}
		index[t.ID] = len(ts)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load transfers: %w", err)
	}
	if len(ts) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	rows, err = q.Query(ctx, `SELECT transfer_id, account_id, amount, balance_after FROM postings
		WHERE transfer_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("load postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var p Posting
		if err := rows.Scan(&id, &p.AccountID, &p.Amount, &p.BalanceAfter); err != nil {
			return nil, fmt.Errorf("load postings: %w", err)
		}
		t := &ts[index[id]]
		t.Postings = append(t.Postings, p)
	}
	return ts, rows.Err()
}
