package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/breaker"
	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/postgres"
)

var (
	batchSize = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "qrpay_ledger_batch_size",
		Help:    "Transfers committed per ledger transaction.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	batchSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "qrpay_ledger_batch_seconds",
		Help:    "Time to commit one ledger batch.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	transfersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "qrpay_ledger_transfers_total",
		Help: "Ledger transfer requests by outcome (error code, or ok / replayed).",
	}, []string{"outcome"})
)

// Options tune the committers. The zero value is usable.
type Options struct {
	// Committers is the number of goroutines committing batches (default 4).
	Committers int
	// MaxBatch caps the transfers per transaction (default 64).
	MaxBatch int
	// Window is how long a committer waits for more transfers after the
	// first one arrives. Zero takes only what is already queued, so a lone
	// request is never delayed; under load, batches grow by themselves while
	// earlier ones commit.
	Window time.Duration
	// TxTimeout bounds one batch transaction (default 10 s).
	TxTimeout time.Duration
	// Breaker is the PostgreSQL breaker the ledger shares with the rest of
	// the application. When nil the ledger builds its own:
	// BreakerFailures consecutive failures open it (default 5) for
	// BreakerOpenFor (default 5 s).
	Breaker         *breaker.Breaker
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	Logger          *slog.Logger
}

// Ledger posts transfers. Create it with New and stop it with Close.
type Ledger struct {
	pool    *pgxpool.Pool
	opts    Options
	log     *slog.Logger
	breaker *breaker.Breaker

	// queues holds one queue per committer. A transfer goes to the queue
	// of its route (see Transfer.Route), so the transfers of a hot account
	// gather into one committer's batches instead of queueing on its row
	// lock across committers.
	queues  []chan *request
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

type request struct {
	ctx  context.Context
	t    Transfer
	done chan struct{}
	res  Transfer
	err  error
}

func (r *request) answer(t Transfer, err error) {
	r.res, r.err = t, err
	outcome := "ok"
	switch {
	case err != nil:
		outcome = string(errs.CodeOf(err))
	case t.Replayed:
		outcome = "replayed"
	}
	transfersTotal.WithLabelValues(outcome).Inc()
	close(r.done)
}

// New starts a ledger's committers on pool.
func New(pool *pgxpool.Pool, opts Options) *Ledger {
	if opts.Committers <= 0 {
		opts.Committers = 4
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.TxTimeout <= 0 {
		opts.TxTimeout = 10 * time.Second
	}
	if opts.Breaker == nil {
		opts.Breaker = breaker.New("postgres", opts.BreakerFailures, opts.BreakerOpenFor)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Ledger{
		pool:    pool,
		opts:    opts,
		log:     opts.Logger,
		breaker: opts.Breaker,
		queues:  make([]chan *request, opts.Committers),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	l.wg.Add(opts.Committers)
	for i := range l.queues {
		l.queues[i] = make(chan *request, opts.MaxBatch*4)
		go l.commitLoop(l.queues[i])
	}
	go func() { l.wg.Wait(); close(l.stopped) }()
	return l
}

// Close stops accepting transfers, commits those already queued and waits
// for the committers to finish.
func (l *Ledger) Close() {
	l.once.Do(func() { close(l.quit) })
	<-l.stopped
}

// BreakerState reports the Postgres breaker's state.
func (l *Ledger) BreakerState() string { return l.breaker.State() }

// Post commits t and returns it with its postings' balances and CreatedAt,
// or returns the transfer committed earlier under the same idempotency key
// (Replayed set). Its order change, if any, commits with it (see
// OrderChange).
//
// Errors: invalid, not_found (an account), account_closed,
// insufficient_funds, idempotency_mismatch, the order's state
// (order_already_paid, order_closed, order_expired, or conflict wrapping
// ErrOrderChanged), or
// unavailable when Postgres cannot be reached (the breaker then opens). When
// ctx ends first Post returns ctx's error, and the transfer may still
// commit: post again with the same key to learn its outcome.
func (l *Ledger) Post(ctx context.Context, t Transfer) (Transfer, error) {
	if err := t.validate(); err != nil {
		transfersTotal.WithLabelValues(string(errs.CodeOf(err))).Inc()
		return Transfer{}, err
	}
	t = t.detached()
	res, err := breaker.Do(l.breaker, func() (Transfer, error) {
		return l.submit(ctx, t)
	})
	if breaker.Rejected(err) {
		err = notCommitted(err)
	}
	return res, err
}

// ErrNotCommitted marks an error for a transfer that provably did not
// commit — the breaker was open, the ledger was shutting down, the caller
// left before it was queued, or its transaction failed before or at a
// COMMIT the server answered — as opposed to one whose outcome is unknown.
// A caller may give back what it reserved for the transfer.
var ErrNotCommitted = errors.New("the transfer did not commit")

// notCommitted adds ErrNotCommitted to err, keeping its code.
func notCommitted(err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return &errs.Error{Code: e.Code, Message: e.Message, RetryAfter: e.RetryAfter, Err: errors.Join(e.Err, ErrNotCommitted)}
	}
	return errors.Join(err, ErrNotCommitted)
}

func (l *Ledger) submit(ctx context.Context, t Transfer) (Transfer, error) {
	r := &request{ctx: ctx, t: t, done: make(chan struct{})}
	select {
	case <-l.quit:
		return Transfer{}, notCommitted(errs.E(errs.Unavailable, "the ledger is shutting down"))
	default:
	}
	select {
	case l.queues[l.route(&t)] <- r:
	case <-ctx.Done():
		return Transfer{}, notCommitted(ctx.Err())
	case <-l.quit:
		return Transfer{}, notCommitted(errs.E(errs.Unavailable, "the ledger is shutting down"))
	}
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return Transfer{}, ctx.Err()
	case <-l.stopped:
		select {
		case <-r.done:
			return r.res, r.err
		default:
			return Transfer{}, errs.E(errs.Unavailable, "the ledger is shutting down")
		}
	}
}

// route picks t's committer: the one of its route account.
func (l *Ledger) route(t *Transfer) int {
	id := t.Route
	if id == 0 {
		var best int64
		for _, p := range t.Postings {
			if p.Amount > best {
				best, id = p.Amount, p.AccountID
			}
		}
	}
	return int(uint64(id) % uint64(len(l.queues)))
}

// commitLoop takes the first waiting transfer, gathers what else is queued
// (up to MaxBatch, waiting at most Window) and commits them together.
func (l *Ledger) commitLoop(queue chan *request) {
	defer l.wg.Done()
	for {
		var first *request
		select {
		case first = <-queue:
		case <-l.quit:
			// Drain: whatever was queued before Close still commits.
			for {
				select {
				case r := <-queue:
					l.process(l.gather(queue, r, 0))
				default:
					return
				}
			}
		}
		l.process(l.gather(queue, first, l.opts.Window))
	}
}

func (l *Ledger) gather(queue chan *request, first *request, window time.Duration) []*request {
	batch := []*request{first}
	var deadline <-chan time.Time
	if window > 0 {
		timer := time.NewTimer(window)
		defer timer.Stop()
		deadline = timer.C
	}
	for len(batch) < l.opts.MaxBatch {
		if deadline == nil {
			select {
			case r := <-queue:
				batch = append(batch, r)
				continue
			default:
			}
			return batch
		}
		select {
		case r := <-queue:
			batch = append(batch, r)
		case <-deadline:
			return batch
		}
	}
	return batch
}

type idemKey struct{ scope, key string }

// process commits a batch. Requests whose caller gave up are dropped, and a
// second use of an idempotency key within the batch waits for the next
// round, where it finds the first one committed (or not).
func (l *Ledger) process(batch []*request) {
	for len(batch) > 0 {
		seen := make(map[idemKey]bool, len(batch))
		var now, later []*request
		for _, r := range batch {
			k := idemKey{r.t.Scope, r.t.Key}
			switch {
			case r.ctx.Err() != nil:
				r.answer(Transfer{}, r.ctx.Err())
			case seen[k]:
				later = append(later, r)
			default:
				seen[k] = true
				now = append(now, r)
			}
		}
		l.commitOrSplit(now)
		batch = later
	}
}

// commitOrSplit commits batch in one transaction. If the database rejects
// the batch, one transfer may be at fault, so each is retried on its own;
// if the database cannot be reached, every transfer fails as unavailable.
func (l *Ledger) commitOrSplit(batch []*request) {
	if len(batch) == 0 {
		return
	}
	err := l.commit(batch)
	if err == nil {
		return
	}
	// A batch whose COMMIT may have taken effect is never split: its
	// transfers, tried again alone, would find their own keys and answer
	// as replays of themselves.
	if len(batch) > 1 && postgres.IsServerError(err) && !errors.Is(err, postgres.ErrCommitUnknown) {
		l.log.Warn("ledger batch failed; retrying its transfers one by one", "size", len(batch), "err", err)
		for _, r := range batch {
			if err := l.commit([]*request{r}); err != nil {
				r.answer(Transfer{}, l.failure(err))
			}
		}
		return
	}
	failure := l.failure(err)
	for i, r := range batch {
		if i == 1 { // the rest of the batch failed for the same reason: count it once
			failure = &errs.Error{Code: failure.Code, Message: failure.Message, Err: errors.Join(failure.Err, breaker.ErrAlreadyCounted)}
		}
		r.answer(Transfer{}, failure)
	}
}

// failure answers a transfer whose transaction failed. The database
// refusing the transfer's own data (SQLSTATE class 22, data exception, or
// 23, integrity constraint) is the request's fault and will fail again, so
// it is not "unavailable", which would tell the caller to retry and count
// against the breaker.
func (l *Ledger) failure(err error) *errs.Error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22":
			l.log.Warn("ledger refused a transfer's data", "err", err)
			return errs.Wrap(errs.Invalid, err, "the transfer holds a value that cannot be stored")
		case "23":
			l.log.Warn("ledger refused a transfer by a constraint", "err", err)
			return errs.Wrap(errs.Conflict, err, "the transfer conflicts with stored data")
		}
	}
	l.log.Error("ledger commit failed", "err", err)
	if !errors.Is(err, postgres.ErrCommitUnknown) {
		err = errors.Join(err, ErrNotCommitted)
	}
	return errs.Wrap(errs.Unavailable, err, "the ledger could not commit; try again with the same idempotency key")
}

// outcome is one request's result within a transaction attempt.
type outcome struct {
	t   Transfer
	err error
}

// commit runs the batch transaction and, once it has committed, answers
// every request. It answers nothing when it returns an error.
func (l *Ledger) commit(batch []*request) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.TxTimeout)
	defer cancel()
	start := time.Now()
	var out []outcome
	err := postgres.InPipeTx(ctx, l.pool, func(tx *postgres.PipeTx) error {
		var err error
		out, err = l.commitTx(ctx, tx, batch)
		return err
	})
	if err != nil {
		return err
	}
	batchSize.Observe(float64(len(batch)))
	batchSeconds.Observe(time.Since(start).Seconds())
	for i, r := range batch {
		r.answer(out[i].t, out[i].err)
	}
	return nil
}

// genericPlans makes every statement of a batch transaction run with its
// prepared statement's generic plan, and that plan one that reaches its rows
// through indexes. The statements take arrays of a different length nearly
// every time; left to choose, PostgreSQL plans each execution anew for its
// arrays whenever a batch is smaller than the ten rows it assumes for an
// array it cannot see, and with the small batches of transfers spread over
// many merchants the planning cost about as much as the statements' work.
// A generic plan is made once per connection and kept until the table's
// statistics change, so it must not depend on how big the table was then:
// built while the orders table was nearly empty (a new database filling
// with orders), it scanned the whole table for every batch long after.
// Every statement of the batch finds its rows by a unique index (id = ANY,
// an idempotency key) or inserts what it is given, so with sequential scans
// ruled out the generic plan is the right one for every length and every
// table size (TestBatchStatementsRunGenericPlans).
const genericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`

// commitTx is the batch transaction. It costs two round trips whatever the
// batch's size:
//
//  1. in one pipeline, behind the BEGIN (and genericPlans): lock every account the batch touches, in id order —
//     the one global lock order, so batches on several replicas cannot
//     deadlock — then every existing order it changes, in id order (always
//     after the accounts); then claim every idempotency key with one
//     INSERT … ON CONFLICT DO NOTHING (in key order), stamping the claimed
//     transfers with the time once all locks are held. A key already taken
//     is a replay or a mismatch. A claim that waits here waits on a batch
//     holding other rows (it got its locks before inserting), so the wait
//     cannot close a cycle;
//  2. decide each transfer in arrival order, in memory: its order's state,
//     then its funds;
//  3. in one pipeline ending with the COMMIT: delete the claims of rejected
//     transfers, write all postings, each touched account's balance, each
//     changed order's final state, new orders, refunds, outbox events and
//     wallet feed entries, one statement each.
//
// A hot account (a merchant's) is thus locked and updated once per batch and
// held for one round trip and the commit's flush; a transfer that fails its
// own checks never fails its neighbours. (A replayed key costs one more
// round trip, between 1 and 3, to read the transfer it replays.)
func (l *Ledger) commitTx(ctx context.Context, tx *postgres.PipeTx, batch []*request) ([]outcome, error) {
	out := make([]outcome, len(batch))
	n := len(batch)
	ids := make([]uuid.UUID, n)
	kinds, currencies, scopes, keys, metas := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	wallets, cards, merchants, orderIDs, mccs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	fundings := make([]string, n)
	amounts := make([]int64, n)
	prints := make([][]byte, n)
	for i, r := range batch {
		t := &r.t
		ids[i], kinds[i], currencies[i], amounts[i] = t.ID, t.Kind, t.Currency, t.Amount()
		scopes[i], keys[i], prints[i], metas[i] = t.Scope, t.Key, t.Fingerprint, string(t.Metadata)
		wallets[i], cards[i], merchants[i], orderIDs[i] = linkText(t.Links.WalletID), linkText(t.Links.CardID),
			linkText(t.Links.MerchantID), linkText(t.Links.OrderID)
		mccs[i], fundings[i] = t.Links.MCC, t.Links.Funding
	}
	var accountIDs []int64
	for _, r := range batch {
		for _, p := range r.t.Postings {
			accountIDs = append(accountIDs, p.AccountID)
		}
		if r.t.Feed != nil {
			accountIDs = append(accountIDs, r.t.Feed.AccountID)
		}
	}

	// 1. Lock, then claim, in one round trip. The batch's transfers and
	// postings are stamped with the time once every lock is held: stamping
	// at lock time (not at transaction start) orders postings of an account
	// by when they could first be seen, so a settlement that takes the same
	// lock and reads "everything before T" misses nothing that commits later.
	first := &pgx.Batch{}
	first.Queue(genericPlans)
	first.Queue(`SELECT `+accountColumns+` FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, accountIDs)
	hasOrders := lockOrders(first, batch)
	first.Queue(`
		WITH stamp AS (SELECT clock_timestamp() AS at)
		INSERT INTO transfers (id, kind, currency, amount, idem_scope, idem_key, fingerprint, metadata, created_at,
			wallet_id, card_id, merchant_id, order_id, mcc, funding)
		SELECT id, kind, currency, amount, scope, key, fp, meta::jsonb, (SELECT at FROM stamp),
			nullif(wallet, '')::uuid, nullif(card, '')::uuid, nullif(merchant, '')::uuid, nullif(order_id, '')::uuid, nullif(mcc, ''),
			nullif(funding, '')
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bytea[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
			AS c(id, kind, currency, amount, scope, key, fp, meta, wallet, card, merchant, order_id, mcc, funding)
		ORDER BY scope, key
		ON CONFLICT (idem_scope, idem_key) DO NOTHING
		RETURNING id, created_at`, ids, kinds, currencies, amounts, scopes, keys, prints, metas,
		wallets, cards, merchants, orderIDs, mccs, fundings)
	accounts, orders, claimedAt, err := readFirst(tx.SendBatch(ctx, first), hasOrders, n)
	if err != nil {
		return nil, err
	}

	if len(claimedAt) < n {
		if err := l.resolveTaken(ctx, tx, batch, claimedAt, out); err != nil {
			return nil, err
		}
	}

	// 2. Decide each transfer in arrival order.
	var rejected []uuid.UUID
	var pTransfer []uuid.UUID
	var pAccount, pAmount, pAfter []int64
	var pAt []time.Time
	var ow orderWrites
	var fw feedWrites
	touched := map[int64]bool{}
	for i, r := range batch {
		at, ok := claimedAt[r.t.ID]
		if !ok {
			continue // answered by resolveTaken
		}
		t := r.t
		t.CreatedAt = at
		t.Postings = append([]Posting(nil), r.t.Postings...)
		err := checkOrder(orders, &t)
		if err == nil {
			err = apply(accounts, &t)
		}
		if err != nil {
			out[i].err = err
			rejected = append(rejected, t.ID)
			continue
		}
		if t.Order != nil {
			ow.add(&t, applyOrder(orders, &t))
		}
		fw.add(accounts, &t)
		for _, p := range t.Postings {
			pTransfer = append(pTransfer, t.ID)
			pAccount = append(pAccount, p.AccountID)
			pAmount = append(pAmount, p.Amount)
			pAfter = append(pAfter, p.BalanceAfter)
			pAt = append(pAt, at)
			touched[p.AccountID] = true
		}
		out[i].t = t
	}

	// 3. Write and commit, in one round trip.
	write := &pgx.Batch{}
	if len(rejected) > 0 {
		write.Queue(`DELETE FROM transfers WHERE id = ANY($1)`, rejected)
	}
	if len(pTransfer) > 0 {
		write.Queue(`
			INSERT INTO postings (transfer_id, account_id, amount, balance_after, created_at)
			SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[])`,
			pTransfer, pAccount, pAmount, pAfter, pAt)
		var bID, bBalance []int64
		for id := range touched {
			bID = append(bID, id)
			bBalance = append(bBalance, accounts[id].Balance)
		}
		// "accounts.id = ANY($1)" lets the planner find the few rows by
		// their key instead of hashing the join over the whole table.
		write.Queue(`
			UPDATE accounts SET balance = u.balance
			FROM unnest($1::bigint[], $2::bigint[]) AS u(id, balance) WHERE accounts.id = u.id AND accounts.id = ANY($1)`,
			bID, bBalance)
		ow.queue(write, orders)
		fw.queue(write)
	}
	if err := tx.Commit(ctx, write); err != nil {
		return nil, fmt.Errorf("write postings and commit: %w", err)
	}
	return out, nil
}

func linkText(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// readFirst reads the results of the first pipeline: the locked accounts,
// the locked orders (when queued) and the claimed keys with their stamp.
func readFirst(br pgx.BatchResults, hasOrders bool, n int) (map[int64]*Account, map[uuid.UUID]*lockedOrder, map[uuid.UUID]time.Time, error) {
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, nil, nil, fmt.Errorf("set the batch's plans: %w", err)
	}
	accounts := make(map[int64]*Account)
	rows, err := br.Query()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("lock accounts: %w", err)
	}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("lock accounts: %w", err)
		}
		accounts[a.ID] = &a
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("lock accounts: %w", err)
	}
	orders := map[uuid.UUID]*lockedOrder{}
	if hasOrders {
		if orders, err = readLockedOrders(br); err != nil {
			return nil, nil, nil, err
		}
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("claim keys: %w", err)
	}
	claimedAt := make(map[uuid.UUID]time.Time, n)
	for rows.Next() {
		var id uuid.UUID
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("claim keys: %w", err)
		}
		claimedAt[id] = at
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("claim keys: %w", err)
	}
	return accounts, orders, claimedAt, br.Close()
}

// apply checks t against the locked accounts and moves their in-memory
// balances, filling each posting's BalanceAfter. It changes nothing when it
// returns an error.
func apply(accounts map[int64]*Account, t *Transfer) error {
	for _, p := range t.Postings {
		a, ok := accounts[p.AccountID]
		switch {
		case !ok:
			return errs.E(errs.NotFound, "account %d not found", p.AccountID)
		case a.Currency != t.Currency:
			return errs.E(errs.Invalid, "account %d holds %s, not %s", a.ID, a.Currency, t.Currency)
		case a.Closed:
			return errs.E(errs.AccountClosed, "account %d is closed", a.ID)
		case !a.AllowNegative && a.Balance+p.Amount < 0:
			return errs.E(errs.InsufficientFunds, "insufficient funds")
		}
	}
	for i := range t.Postings {
		p := &t.Postings[i]
		a := accounts[p.AccountID]
		a.Balance += p.Amount
		p.BalanceAfter = a.Balance
	}
	return nil
}

// resolveTaken answers the requests whose key was already used: the same
// fingerprint replays the committed transfer, another is a mismatch.
func (l *Ledger) resolveTaken(ctx context.Context, tx Querier, batch []*request, claimed map[uuid.UUID]time.Time, out []outcome) error {
	var scopes, keys []string
	for _, r := range batch {
		if _, ok := claimed[r.t.ID]; !ok {
			scopes = append(scopes, r.t.Scope)
			keys = append(keys, r.t.Key)
		}
	}
	existing, err := loadTransfers(ctx, tx, `WHERE (idem_scope, idem_key) IN
		(SELECT * FROM unnest($1::text[], $2::text[]))`, scopes, keys)
	if err != nil {
		return err
	}
	byKey := make(map[idemKey]Transfer, len(existing))
	for _, t := range existing {
		byKey[idemKey{t.Scope, t.Key}] = t
	}
	for i, r := range batch {
		if _, ok := claimed[r.t.ID]; ok {
			continue
		}
		prev, ok := byKey[idemKey{r.t.Scope, r.t.Key}]
		switch {
		case !ok:
			// The conflicting row is gone. PostgreSQL inserts our row instead
			// when the other transaction rolls back, so this should not
			// happen; if it does, the batch fails as unavailable and its
			// callers retry under their keys.
			return fmt.Errorf("idempotency key %q of %q: conflicting transfer vanished", r.t.Key, r.t.Scope)
		case !bytes.Equal(prev.Fingerprint, r.t.Fingerprint):
			out[i].err = errs.E(errs.IdempotencyMismatch, "idempotency key %q was used for a different request", r.t.Key)
		default:
			prev.Replayed = true
			out[i].t = prev
		}
	}
	return nil
}
