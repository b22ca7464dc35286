package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qrpay/qrpay/breaker"
	"github.com/qrpay/qrpay/errs"
)

// DB is the pool as the services use it: every statement has a deadline and
// goes through the PostgreSQL breaker, so a database that stops answering
// fails requests within the deadline, then — the breaker open — at once,
// until a probe finds it back.
//
// A statement's deadline runs from the call that sends it until its result
// is read: QueryRow's Scan, Query's rows closed, a batch closed. Inside a
// transaction each statement has its own deadline.
type DB struct {
	pool    *pgxpool.Pool
	breaker *breaker.Breaker
	timeout time.Duration
}

// DBOptions tune a DB; the zero value is usable.
type DBOptions struct {
	// Timeout bounds each statement (default 5 s).
	Timeout time.Duration
	// Breaker guards the database (default: 5 failures open it for 5 s).
	Breaker *breaker.Breaker
}

// NewDB wraps pool.
func NewDB(pool *pgxpool.Pool, opts DBOptions) *DB {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Breaker == nil {
		opts.Breaker = breaker.New("postgres", 0, 0)
	}
	return &DB{pool: pool, breaker: opts.Breaker, timeout: opts.Timeout}
}

// Pool is the pool underneath, for work that sets its own deadlines and
// breaker use (the ledger's committers, migrations, a settlement run).
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Breaker is the PostgreSQL breaker.
func (d *DB) Breaker() *breaker.Breaker { return d.breaker }

// call is one statement's admission: its context, and end, which releases
// the context, tells the breaker how the call went and returns the error to
// give the caller (a statement that ran out of its own time is unavailable).
type call struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	done   func(error)
	once   sync.Once
}

func (d *DB) start(ctx context.Context) (*call, error) {
	done, err := d.breaker.Allow()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	return &call{parent: ctx, ctx: cctx, cancel: cancel, done: done}, nil
}

func (c *call) end(err error) error {
	if err != nil && c.parent.Err() == nil && errors.Is(c.ctx.Err(), context.DeadlineExceeded) {
		err = errs.Wrap(errs.Unavailable, err, "the database did not answer in time; try again shortly")
	}
	c.once.Do(func() {
		c.cancel()
		c.done(breaker.Outcome(c.parent, err))
	})
	return err
}

// Exec runs a statement.
func (d *DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return exec(d, ctx, d.pool, sql, args)
}

// Query runs a query; its deadline ends when the rows are closed.
func (d *DB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return query(d, ctx, d.pool, sql, args)
}

// QueryRow runs a query when its row is scanned.
func (d *DB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &row{d: d, ctx: ctx, q: d.pool, sql: sql, args: args}
}

// SendBatch sends a batch; its deadline ends when the results are closed.
func (d *DB) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return sendBatch(d, ctx, d.pool, b)
}

// Begin starts a transaction.
func (d *DB) Begin(ctx context.Context) (pgx.Tx, error) {
	return d.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx starts a transaction with opts.
func (d *DB) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	c, err := d.start(ctx)
	if err != nil {
		return nil, err
	}
	// The transaction outlives the BEGIN's deadline: its statements get
	// their own.
	t, err := d.pool.BeginTx(context.WithoutCancel(c.ctx), opts)
	if err = c.end(err); err != nil {
		return nil, err
	}
	return &tx{Tx: t, d: d}, nil
}

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func exec(d *DB, ctx context.Context, q querier, sql string, args []any) (pgconn.CommandTag, error) {
	c, err := d.start(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := q.Exec(c.ctx, sql, args...)
	return tag, c.end(err)
}

func query(d *DB, ctx context.Context, q querier, sql string, args []any) (pgx.Rows, error) {
	c, err := d.start(ctx)
	if err != nil {
		return nil, err
	}
	r, err := q.Query(c.ctx, sql, args...)
	if err != nil {
		return nil, c.end(err)
	}
	return &rows{Rows: r, c: c}, nil
}

func sendBatch(d *DB, ctx context.Context, q querier, b *pgx.Batch) pgx.BatchResults {
	c, err := d.start(ctx)
	if err != nil {
		return failedBatch{err}
	}
	return &batch{BatchResults: q.SendBatch(c.ctx, b), c: c}
}

// rows ends its call when the caller is done with them.
type rows struct {
	pgx.Rows
	c *call
}

func (r *rows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.c.end(r.Rows.Err())
	return false
}

func (r *rows) Close() {
	r.Rows.Close()
	r.c.end(r.Rows.Err())
}

func (r *rows) Err() error {
	err := r.Rows.Err()
	if err != nil {
		return r.c.end(err)
	}
	return nil
}

// row runs its query when scanned.
type row struct {
	d   *DB
	ctx context.Context
	q   interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}
	sql  string
	args []any
}

func (r *row) Scan(dest ...any) error {
	c, err := r.d.start(r.ctx)
	if err != nil {
		return err
	}
	err = r.q.QueryRow(c.ctx, r.sql, r.args...).Scan(dest...)
	return c.end(err)
}

type batch struct {
	pgx.BatchResults
	c *call
}

func (b *batch) Close() error { return b.c.end(b.BatchResults.Close()) }

// failedBatch answers every read with the breaker's refusal.
type failedBatch struct{ err error }

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return errRow{f.err} }
func (f failedBatch) Close() error                     { return f.err }
func (f failedBatch) Tx() pgx.Tx                       { return nil }

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

// tx gives each statement of a transaction its deadline and breaker
// admission.
type tx struct {
	pgx.Tx
	d *DB
}

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return exec(t.d, ctx, t.Tx, sql, args)
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return query(t.d, ctx, t.Tx, sql, args)
}

func (t *tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &row{d: t.d, ctx: ctx, q: t.Tx, sql: sql, args: args}
}

func (t *tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return sendBatch(t.d, ctx, t.Tx, b)
}

func (t *tx) Commit(ctx context.Context) error {
	c, err := t.d.start(ctx)
	if err != nil {
		_ = t.Tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return c.end(t.Tx.Commit(c.ctx))
}

// Rollback is not refused by an open breaker: it gives the connection back.
func (t *tx) Rollback(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.d.timeout)
	defer cancel()
	return t.Tx.Rollback(ctx)
}
