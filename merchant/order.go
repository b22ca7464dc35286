package merchant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant/emv"
	"github.com/qrpay/qrpay/money"
	"github.com/qrpay/qrpay/postgres"
)

// Order states. created → paid → partially_refunded → refunded;
// created → closed (by the merchant) or expired (past expires_at, by the
// server). docs/orders.md draws it.
const (
	StatusCreated           = "created"
	StatusPaid              = "paid"
	StatusPartiallyRefunded = "partially_refunded"
	StatusRefunded          = "refunded"
	StatusClosed            = "closed"
	StatusExpired           = "expired"
)

// Order is a merchant's request for one payment.
type Order struct {
	ID              string     `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	MerchantID      string     `json:"merchant_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"`
	MerchantOrderNo string     `json:"merchant_order_no" example:"POS1-000123"`
	Amount          int64      `json:"amount" example:"1200" doc:"Minor units: 1200 is 12.00 CNY."`
	Currency        string     `json:"currency" example:"CNY"`
	Description     string     `json:"description" example:"2 coffees"`
	TerminalID      string     `json:"terminal_id" example:"POS1"`
	Status          string     `json:"status" example:"created" enum:"created,paid,partially_refunded,refunded,closed,expired"`
	QRPayload       string     `json:"qr_payload" example:"00020101021226890009COM.QRPAY…6304ABCD" doc:"EMVCo payload to show as a QR code."`
	QRPNGURL        string     `json:"qr_png_url" example:"/v1/orders/0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b/qr.png"`
	ExpiresAt       time.Time  `json:"expires_at"`
	CreatedAt       time.Time  `json:"created_at"`
	PaidAt          *time.Time `json:"paid_at"`
	Fee             int64      `json:"fee" example:"7" doc:"The gateway's fee, set when paid."`
	RefundedAmount  int64      `json:"refunded_amount" example:"0"`

	ref             string
	feeRefunded     int64
	walletID        *uuid.UUID
	walletAccountID *int64
	cardMasked      string
	paymentID       *uuid.UUID
	static          bool
	events          int // events emitted so far: the next event's sequence is this + 1
}

// OrderInput is what a POS gives to create an order.
type OrderInput struct {
	MerchantOrderNo string
	Amount          int64
	Currency        string
	Description     string
	TerminalID      string
	ExpiresIn       time.Duration // zero: the default
}

// MaxOrderAmount bounds an order (10^13 minor units). The QR bounds it
// further (fitsQR): tag 54 holds 9999999999.99 CNY but not 10^12 fen.
const MaxOrderAmount int64 = 10_000_000_000_000

// CreateOrder stores an order and returns it with its QR payload. The QR
// PNG is not rendered here: rendering costs more than a payment, and POS
// terminals draw the payload themselves. The merchant order number makes it
// idempotent: the same order again returns the first.
func (s *Service) CreateOrder(ctx context.Context, c Caller, in OrderInput) (Order, error) {
	o, m, err := s.newOrder(ctx, c, in)
	if err != nil {
		return Order{}, err
	}
	o.ref = randomCode(20)
	if o.QRPayload, err = s.dynamicPayload(m, o, o.ref); err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	inserted, err := s.newOrders.Do(ctx, o)
	if err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	if !inserted {
		// The same order sent again (a retry whose first answer was lost)
		// gets the order back; another order under the same number is a
		// conflict.
		prev, gerr := s.GetOrderByNumber(ctx, c, in.MerchantOrderNo)
		if gerr == nil && prev.Amount == o.Amount && prev.Currency == o.Currency && prev.Description == o.Description &&
			prev.TerminalID == o.TerminalID {
			return prev, nil
		}
		if gerr != nil && !errs.Is(gerr, errs.NotFound) {
			return Order{}, fmt.Errorf("create order: %w", gerr)
		}
		if gerr != nil {
			// Not the number then: the random reference collided.
			return Order{}, errs.E(errs.Unavailable, "the order could not be stored; try again")
		}
		return Order{}, errs.E(errs.Conflict, "merchant_order_no %q is already used", in.MerchantOrderNo)
	}
	o.QRPNGURL = "/v1/orders/" + o.ID + "/qr.png"
	return o, nil
}

// newOrder checks an order's input against its merchant and builds it,
// without its reference and payload.
func (s *Service) newOrder(ctx context.Context, c Caller, in OrderInput) (Order, Merchant, error) {
	m, err := s.merchantByID(ctx, c.MerchantID)
	if err != nil {
		return Order{}, m, err
	}
	if in.Currency == "" {
		in.Currency = m.Currency
	}
	if in.ExpiresIn == 0 {
		in.ExpiresIn = s.cfg.DefaultExpiry
	}
	switch {
	case m.Status != "active":
		return Order{}, m, errs.E(errs.MerchantSuspended, "the merchant is suspended")
	case !Printable(in.MerchantOrderNo, 64):
		return Order{}, m, errs.E(errs.Invalid, "merchant_order_no must be 1 to 64 printable characters")
	case in.Amount <= 0 || in.Amount > MaxOrderAmount:
		return Order{}, m, errs.E(errs.Invalid, "amount must be 1 to %d minor units", MaxOrderAmount)
	case in.Currency != m.Currency:
		return Order{}, m, errs.E(errs.Invalid, "the merchant accepts %s, not %s", m.Currency, in.Currency)
	case !fitsQR(in.Amount, in.Currency):
		return Order{}, m, errs.E(errs.Invalid, "amount %s %s does not fit in a QR code: at most %d characters",
			money.Format(in.Amount, in.Currency), in.Currency, emv.MaxAmountLength)
	case len([]rune(in.Description)) > 256:
		return Order{}, m, errs.E(errs.Invalid, "description must be at most 256 characters")
	case in.TerminalID != "" && !Printable(in.TerminalID, 32):
		return Order{}, m, errs.E(errs.Invalid, "terminal_id must be at most 32 printable characters")
	case in.ExpiresIn < time.Minute || in.ExpiresIn > s.cfg.MaxExpiry:
		return Order{}, m, errs.E(errs.Invalid, "expires_in must be 60 to %d seconds", int(s.cfg.MaxExpiry.Seconds()))
	}
	now := s.now()
	return Order{
		ID: uuid.Must(uuid.NewV7()).String(), MerchantID: m.ID, MerchantOrderNo: in.MerchantOrderNo,
		Amount: in.Amount, Currency: in.Currency, Description: in.Description, TerminalID: in.TerminalID,
		Status: StatusCreated, CreatedAt: now, ExpiresAt: now.Add(in.ExpiresIn).Truncate(time.Second),
	}, m, nil
}

// insertOrders stores the orders being created at once with one statement
// (postgres.Combiner), so that they share one commit. It answers, for each,
// whether it was stored; one that was not collided with a stored order (its
// merchant's order number, or its reference). A row the database refuses
// would fail its neighbours, so on such an error each is stored on its own.
func (s *Service) insertOrders(ctx context.Context, orders []Order) ([]bool, error) {
	stored, err := s.storeOrders(ctx, orders)
	if err == nil || len(orders) == 1 || !postgres.IsServerError(err) {
		return stored, err
	}
	stored = make([]bool, len(orders))
	for i := range orders {
		one, err := s.storeOrders(ctx, orders[i:i+1])
		if err != nil {
			return nil, err
		}
		stored[i] = one[0]
	}
	return stored, nil
}

func (s *Service) storeOrders(ctx context.Context, orders []Order) ([]bool, error) {
	n := len(orders)
	ids, merchants, numbers, refs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	currencies, descriptions, terminals := make([]string, n), make([]string, n), make([]string, n)
	amounts := make([]int64, n)
	expires, created := make([]time.Time, n), make([]time.Time, n)
	for i, o := range orders {
		ids[i], merchants[i], numbers[i], refs[i] = o.ID, o.MerchantID, o.MerchantOrderNo, o.ref
		currencies[i], descriptions[i], terminals[i] = o.Currency, o.Description, o.TerminalID
		amounts[i], expires[i], created[i] = o.Amount, o.ExpiresAt, o.CreatedAt
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency,
			description, terminal_id, expires_at, created_at)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[],
			$7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[])
		ON CONFLICT DO NOTHING
		RETURNING id::text`, ids, merchants, numbers, refs, amounts, currencies, descriptions, terminals, expires, created)
	if err != nil {
		return nil, err
	}
	done := make(map[string]bool, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		done[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	stored := make([]bool, n)
	for i, o := range orders {
		stored[i] = done[o.ID]
	}
	return stored, nil
}

const orderColumns = `o.id, o.merchant_id, o.merchant_order_no, o.ref, o.amount, o.currency, o.description,
	o.terminal_id, o.status, o.expires_at, o.created_at, o.paid_at, o.fee, o.refunded_amount, o.fee_refunded,
	o.wallet_id, o.wallet_account_id, o.card_masked, o.payment_id, o.static, o.events`

// scanOrder reads an order and rebuilds its payload (deterministic from the
// stored fields and the key), so the payload is never stored twice.
func (s *Service) scanOrder(row pgx.Row, m *Merchant) (Order, error) {
	o, err := scanOrderRow(row)
	if err != nil {
		return o, err
	}
	return s.completeOrder(o, m)
}

// scanOrderRow reads an order's stored fields.
func scanOrderRow(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.MerchantID, &o.MerchantOrderNo, &o.ref, &o.Amount, &o.Currency, &o.Description,
		&o.TerminalID, &o.Status, &o.ExpiresAt, &o.CreatedAt, &o.PaidAt, &o.Fee, &o.RefundedAmount, &o.feeRefunded,
		&o.walletID, &o.walletAccountID, &o.cardMasked, &o.paymentID, &o.static, &o.events)
	return o, err
}

// completeOrder derives what is not stored: the state the clock implies and
// the payload of its merchant m.
func (s *Service) completeOrder(o Order, m *Merchant) (Order, error) {
	var err error
	if o.Status == StatusCreated && !s.now().Before(o.ExpiresAt) {
		o.Status = StatusExpired // the sweeper may not have run yet; the clock has
	}
	if !o.static && !o.CustomerPresented() {
		if o.QRPayload, err = s.dynamicPayload(*m, o, o.ref); err != nil {
			return o, err
		}
		o.QRPNGURL = "/v1/orders/" + o.ID + "/qr.png"
	}
	return o, nil
}

// order reads one of the caller's orders; another merchant's order is not
// found, exactly like one that does not exist.
func (s *Service) order(ctx context.Context, c Caller, where string, arg any) (Order, error) {
	m, err := s.Get(ctx, c.MerchantID)
	if err != nil {
		return Order{}, err
	}
	o, err := s.scanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders o
		WHERE o.merchant_id = $1 AND `+where, c.MerchantID, arg), &m)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, errs.E(errs.NotFound, "order not found")
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

// GetOrder reads an order by id.
func (s *Service) GetOrder(ctx context.Context, c Caller, id string) (Order, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Order{}, errs.E(errs.NotFound, "order not found")
	}
	return s.order(ctx, c, "o.id = $2", id)
}

// GetOrderByNumber reads an order by the merchant's own order number.
func (s *Service) GetOrderByNumber(ctx context.Context, c Caller, no string) (Order, error) {
	return s.order(ctx, c, "o.merchant_order_no = $2", no)
}

// OrderPage is one page of orders, newest first, with the totals of every
// order the filter selects (not only this page's).
type OrderPage struct {
	Data       []Order     `json:"data"`
	HasMore    bool        `json:"has_more" example:"true"`
	NextCursor string      `json:"next_cursor,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"Pass as starting_after for the next page."`
	Totals     OrderTotals `json:"totals" doc:"Every order the filter selects, on all pages."`
}

// OrderQuery selects orders: by status, terminal and creation time
// ([From, To); a zero bound is open), a page at a time.
type OrderQuery struct {
	Status        string
	TerminalID    string
	From, To      time.Time
	StartingAfter string
	Limit         int
}

// orderFilter is the SQL condition of a query's filter (not its page) on
// orders o, with its arguments from $2 on ($1 is the merchant). An order
// past its expiry that the sweeper has not reached yet counts as expired,
// as reading it shows it.
func (q OrderQuery) orderFilter(now time.Time) (string, []any, error) {
	switch q.Status {
	case "", StatusCreated, StatusPaid, StatusPartiallyRefunded, StatusRefunded, StatusClosed, StatusExpired:
	default:
		return "", nil, errs.E(errs.Invalid, "unknown status %q", q.Status)
	}
	if q.TerminalID != "" && !Printable(q.TerminalID, 32) {
		return "", nil, errs.E(errs.Invalid, "terminal_id must be at most 32 printable characters")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return "", nil, errs.E(errs.Invalid, "from must be before to")
	}
	where := `($2 = '' OR ` + effectiveStatus + ` = $2) AND ($3 = '' OR o.terminal_id = $3)
		AND ($4::timestamptz IS NULL OR o.created_at >= $4) AND ($5::timestamptz IS NULL OR o.created_at < $5)`
	return where, []any{q.Status, q.TerminalID, optionalTime(q.From), optionalTime(q.To), now}, nil
}

// effectiveStatus is an order's status as reading it shows it ($6 is now).
const effectiveStatus = `(CASE WHEN o.status = 'created' AND o.expires_at <= $6 THEN 'expired' ELSE o.status END)`

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ListOrders pages through the caller's orders, newest first. The cursor
// is an order id (ids grow with time), so pages stay stable while new
// orders arrive.
func (s *Service) ListOrders(ctx context.Context, c Caller, q OrderQuery) (OrderPage, error) {
	limit, after, err := pageParams(q.Limit, q.StartingAfter, "an order id")
	if err != nil {
		return OrderPage{}, err
	}
	where, args, err := q.orderFilter(s.now())
	if err != nil {
		return OrderPage{}, err
	}
	m, err := s.Get(ctx, c.MerchantID)
	if err != nil {
		return OrderPage{}, err
	}
	args = append([]any{c.MerchantID}, args...)
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders o
		WHERE o.merchant_id = $1 AND `+where+` AND o.id < $7
		ORDER BY o.id DESC LIMIT $8`, append(args, after, limit+1)...)
	if err != nil {
		return OrderPage{}, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	page := OrderPage{Data: []Order{}}
	for rows.Next() {
		o, err := s.scanOrder(rows, &m)
		if err != nil {
			return OrderPage{}, fmt.Errorf("list orders: %w", err)
		}
		page.Data = append(page.Data, o)
	}
	if err := rows.Err(); err != nil {
		return OrderPage{}, fmt.Errorf("list orders: %w", err)
	}
	if len(page.Data) > limit {
		page.Data, page.HasMore = page.Data[:limit], true
		page.NextCursor = page.Data[limit-1].ID
	}
	if page.Totals, err = s.orderTotals(ctx, m, where, args); err != nil {
		return OrderPage{}, err
	}
	return page, nil
}

// pageParams checks a page's limit (default 20, at most 100) and its
// cursor: ids are UUIDv7, so "older than the cursor" is "id below it".
func pageParams(limit int, startingAfter, what string) (int, uuid.UUID, error) {
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		return 0, uuid.Nil, errs.E(errs.Invalid, "limit must be 1 to 100")
	}
	if startingAfter == "" {
		return limit, uuid.Max, nil
	}
	after, err := uuid.Parse(startingAfter)
	if err != nil {
		return 0, uuid.Nil, errs.E(errs.Invalid, "starting_after must be %s", what)
	}
	return limit, after, nil
}

// CloseOrder closes an unpaid order so that it can never be paid. Closing
// a closed order is a no-op; a paid or expired one is a conflict.
func (s *Service) CloseOrder(ctx context.Context, c Caller, id string) (Order, error) {
	o, err := s.GetOrder(ctx, c, id)
	if err != nil {
		return Order{}, err
	}
	if o.Status == StatusClosed {
		return o, nil
	}
	err = postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var closedAt time.Time
		err := tx.QueryRow(ctx, `UPDATE orders SET status = 'closed', closed_at = $2
			WHERE id = $1 AND status = 'created' AND expires_at > $2 RETURNING closed_at`, o.ID, s.now()).Scan(&closedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.E(errs.Conflict, "only an unpaid, unexpired order can be closed")
		}
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, o.ID, EventClosed, nil)
	})
	if err != nil {
		return Order{}, err
	}
	return s.GetOrder(ctx, c, id)
}

// ExpireDue marks orders past their expiry as expired, with their
// order.expired events, in batches; it returns how many it expired.
func (s *Service) ExpireDue(ctx context.Context, batch int) (int, error) {
	var ids []string
	err := postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE orders SET status = 'expired' WHERE id IN (
			SELECT id FROM orders WHERE status = 'created' AND expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id`, s.now(), batch)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.emit(ctx, tx, id, EventExpired, nil); err != nil {
				return err
			}
		}
		return nil
	})
	return len(ids), err
}
