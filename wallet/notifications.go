package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
)

// The kinds of notification in a wallet's feed.
const (
	NoticePayment       = "payment"
	NoticeRefund        = "refund"
	NoticeTopUp         = "topup"
	NoticeTransferIn    = "transfer_in"
	NoticeTransferOut   = "transfer_out"
	NoticeLogin         = "login"
	NoticeLimitsChanged = "limits_changed"
	NoticeCardFrozen    = "card_frozen"
	NoticeCardUnfrozen  = "card_unfrozen"
	NoticeAlert         = "alert"
	// A withdrawal to a card, and its return when the issuer refused it.
	NoticeWithdrawal         = TypeWithdrawal
	NoticeWithdrawalReversal = TypeWithdrawalReversal
	// NoticeChargeRequest: a merchant charged one of the wallet's payment
	// codes above the PIN threshold and waits for the PIN.
	NoticeChargeRequest = "charge_request"
	// NoticeChargeDeclined: a merchant's charge of one of the wallet's
	// payment codes was declined (the balance short, a limit, the card's
	// issuer, the risk checks): nothing moved.
	NoticeChargeDeclined = "charge_declined"
)

// Notification is one entry of a wallet's feed: what happened to its money
// (written by the ledger with the transfer, so only what committed) and to
// its access (a sign-in, a limit change, a card freeze, a security alert).
type Notification struct {
	ID           int64     `json:"id" example:"1042" doc:"Grows with every entry of this wallet; the stream's event id."`
	Type         string    `json:"type" example:"payment" enum:"payment,refund,topup,transfer_in,transfer_out,withdrawal,withdrawal_reversal,login,limits_changed,card_frozen,card_unfrozen,alert,charge_request,charge_declined"`
	Title        string    `json:"title" example:"Paid Blue Bottle Coffee"`
	Amount       *int64    `json:"amount,omitempty" example:"-1200" doc:"Minor units, signed, for money movements."`
	Currency     string    `json:"currency,omitempty" example:"CNY"`
	TransferID   string    `json:"transfer_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Counterparty string    `json:"counterparty,omitempty" example:"Blue Bottle Coffee"`
	Card         string    `json:"card,omitempty" example:"**** 1111"`
	Reason       string    `json:"reason,omitempty" example:"" doc:"Why a security alert was raised."`
	OrderID      string    `json:"order_id,omitempty" example:"" doc:"The merchant's order a payment paid or a refund gave back; the order a charge_request asks to confirm (POST /v1/wallet/payment-codes/charges/{order_id}/confirm)."`
	PaymentCode  *CodeUse  `json:"payment_code,omitempty" doc:"Set on a payment, charge_request or charge_declined that a merchant's charge of one of the wallet's payment codes made: which code it spent."`
	CreatedAt    time.Time `json:"created_at"`
}

// NotificationPage is a page of a wallet's feed, newest first.
type NotificationPage struct {
	Data       []Notification `json:"data"`
	HasMore    bool           `json:"has_more"`
	NextCursor string         `json:"next_cursor,omitempty" example:"1001"`
}

// noticeData is what a non-money entry keeps for display.
type noticeData struct {
	Card   string `json:"card,omitempty"`
	Reason string `json:"reason,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// A charge request's (or declined charge's) order and merchant.
	OrderID  string `json:"order_id,omitempty"`
	Merchant string `json:"merchant,omitempty"`
}

// notify writes a non-money entry to the account's feed. It locks the
// account row while the entry takes its id, as the ledger does for money
// entries, so that ids grow in commit order within an account (see
// migration 00008). q may be a transaction.
func notify(ctx context.Context, q ledger.Querier, accountID int64, kind string, d noticeData) error {
	return notifyAmount(ctx, q, accountID, kind, nil, d)
}

// notifyAmount is notify for an entry that shows an amount (a charge of a
// payment code asked or declined), nil for none.
func notifyAmount(ctx context.Context, q ledger.Querier, accountID int64, kind string, amount *int64, d noticeData) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `WITH a AS (SELECT id FROM accounts WHERE id = $1 FOR UPDATE)
		INSERT INTO wallet_notifications (account_id, kind, amount, data, created_at)
		SELECT id, $2, $3, $4, clock_timestamp() FROM a`, accountID, kind, amount, data)
	if err != nil {
		return fmt.Errorf("notify %s: %w", kind, err)
	}
	return nil
}

// notifyLater writes a feed entry for a change that has already happened;
// a failure is logged, never the change's failure.
func (s *Service) notifyLater(ctx context.Context, accountID int64, kind string, d noticeData) {
	if err := notify(context.WithoutCancel(ctx), s.pool, accountID, kind, d); err != nil {
		s.log.WarnContext(ctx, "writing a feed entry failed", "kind", kind, "err", err)
	}
}

const notificationColumns = `n.id, n.kind, n.transfer_id, n.amount, n.data, n.created_at, t.currency, t.metadata, t.order_id`

// Notifications reads a page of the wallet's feed, newest first, before
// the entry startingAfter names.
func (s *Service) Notifications(ctx context.Context, p Principal, startingAfter string, limit int) (NotificationPage, error) {
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return NotificationPage{}, errs.E(errs.Invalid, "limit must be 1 to 100")
	}
	before := int64(1<<63 - 1)
	if startingAfter != "" {
		n, err := strconv.ParseInt(startingAfter, 10, 64)
		if err != nil || n < 1 {
			return NotificationPage{}, errs.E(errs.Invalid, "starting_after must be a notification id")
		}
		before = n
	}
	list, err := s.readNotifications(ctx, `SELECT `+notificationColumns+`
		FROM wallet_notifications n LEFT JOIN transfers t ON t.id = n.transfer_id
		WHERE n.account_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3`, p.AccountID, before, limit+1)
	if err != nil {
		return NotificationPage{}, err
	}
	page := NotificationPage{Data: list}
	if len(list) > limit {
		page.Data, page.HasMore = list[:limit], true
		page.NextCursor = strconv.FormatInt(list[limit-1].ID, 10)
	}
	return page, nil
}

// NotificationsSince reads up to limit entries of the wallet's feed after
// the one with id after, oldest first: what a stream sends next.
func (s *Service) NotificationsSince(ctx context.Context, p Principal, after int64, limit int) ([]Notification, error) {
	return s.readNotifications(ctx, `SELECT `+notificationColumns+`
		FROM wallet_notifications n LEFT JOIN transfers t ON t.id = n.transfer_id
		WHERE n.account_id = $1 AND n.id > $2 ORDER BY n.id LIMIT $3`, p.AccountID, after, limit)
}

// LatestNotification is the id of the wallet's newest feed entry (0 when
// none): where a stream opened without Last-Event-ID starts.
func (s *Service) LatestNotification(ctx context.Context, p Principal) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM wallet_notifications WHERE account_id = $1`, p.AccountID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("latest notification: %w", err)
	}
	return id, nil
}

func (s *Service) readNotifications(ctx context.Context, query string, args ...any) ([]Notification, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		var transfer, order *uuid.UUID
		var data, meta []byte
		var currency *string
		if err := row.Scan(&n.ID, &n.Type, &transfer, &n.Amount, &data, &n.CreatedAt, &currency, &meta, &order); err != nil {
			return n, err
		}
		var d noticeData
		if err := json.Unmarshal(data, &d); err != nil {
			return n, fmt.Errorf("notification %d: %w", n.ID, err)
		}
		n.Card, n.Reason = d.Card, d.Reason
		if transfer != nil {
			var m Meta
			if err := json.Unmarshal(meta, &m); err != nil {
				return n, fmt.Errorf("notification %d: transfer metadata: %w", n.ID, err)
			}
			n.TransferID, n.Card = transfer.String(), m.Card
			if currency != nil {
				n.Currency = *currency
			}
			if order != nil {
				n.OrderID = order.String()
			}
			describeMoney(&n, m)
		} else {
			describeAccess(&n, d)
		}
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	if list == nil {
		list = []Notification{}
	}
	return list, nil
}

// describeMoney titles a money entry, whose type the ledger wrote as its
// transfer's kind.
func describeMoney(n *Notification, m Meta) {
	out := n.Amount != nil && *n.Amount < 0
	switch n.Type {
	case "payment":
		n.Counterparty, n.Title = m.Merchant, "Paid "+m.Merchant
	case "refund":
		n.Counterparty, n.Title = m.Merchant, "Refund from "+m.Merchant
	case "topup":
		n.Title = "Topped up from card " + m.Card
	case NoticeWithdrawal:
		n.Title = "Withdrawn to card " + m.Card
	case NoticeWithdrawalReversal:
		n.Title = "Withdrawal to card " + m.Card + " returned: the card's issuer refused it"
	case "transfer":
		if out {
			n.Type, n.Counterparty, n.Title = NoticeTransferOut, m.ToPhone, "Sent to "+m.ToPhone
		} else {
			n.Type, n.Counterparty, n.Title = NoticeTransferIn, m.FromPhone, "Money received from "+m.FromPhone
		}
	default:
		n.Title = "Money movement"
	}
}

func describeAccess(n *Notification, d noticeData) {
	switch n.Type {
	case NoticeLogin:
		n.Title = "New sign-in to your wallet"
	case NoticeLimitsChanged:
		n.Title = "Limits of card " + d.Card + " changed"
	case NoticeCardFrozen:
		n.Title = "Card " + d.Card + " frozen"
	case NoticeCardUnfrozen:
		n.Title = "Card " + d.Card + " unfrozen"
	case NoticeAlert:
		n.Title = "Security alert: " + d.Reason
	case NoticeChargeRequest:
		n.OrderID, n.Counterparty, n.Title = d.OrderID, d.Merchant, d.Merchant+" asks you to confirm a payment with your PIN"
	case NoticeChargeDeclined:
		n.OrderID, n.Counterparty, n.Reason = d.OrderID, d.Merchant, d.Reason
		n.Title = "Payment to " + d.Merchant + " declined: " + strings.ReplaceAll(d.Reason, "_", " ")
	default:
		n.Title = n.Type
	}
}
