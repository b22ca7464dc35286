package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PipeTx is a transaction on one connection whose BEGIN travels in the
// pipeline of its first batch and whose COMMIT travels in the pipeline of its
// last (Commit). A transaction of two batches thus costs two round trips
// instead of four, and the rows it locks in the first are held for one round
// trip less: the writes and the COMMIT's WAL flush follow each other on the
// server without waiting for the client in between.
//
// PostgreSQL runs a pipeline's statements up to its Sync in order and skips
// the rest after one fails, so a statement that fails in Commit's batch
// means the COMMIT behind it never ran.
type PipeTx struct {
	conn   *pgx.Conn
	begun  bool
	closed bool // committed, or the connection is unusable
}

// InPipeTx runs fn in a PipeTx and commits it (fn may commit itself with a
// last batch through Commit). Like InTx it runs fn again after a
// serialization failure or a deadlock, up to MaxTxAttempts times, so fn must
// keep its side effects inside the transaction; like InTx an error joined
// with ErrCommitUnknown means the COMMIT was sent and its answer lost, and
// every other error means nothing was committed.
func InPipeTx(ctx context.Context, pool *pgxpool.Pool, fn func(*PipeTx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = runPipeTx(ctx, pool, fn)
		code := retryableCode(err)
		if code == "" || attempt == MaxTxAttempts {
			return err
		}
		txRetries.WithLabelValues(code).Inc()
		pause := time.Duration(1<<attempt) * time.Millisecond
		pause = pause/2 + rand.N(pause)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

func runPipeTx(ctx context.Context, pool *pgxpool.Pool, fn func(*PipeTx) error) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left inside a transaction (a rollback that failed) is
	// destroyed by the pool on release rather than reused.
	defer c.Release()
	t := &PipeTx{conn: c.Conn()}
	if err := fn(t); err != nil {
		t.rollback(ctx)
		return err
	}
	if !t.closed {
		if err := t.Commit(ctx, nil); err != nil {
			t.rollback(ctx)
			return err
		}
	}
	return nil
}

func (t *PipeTx) rollback(ctx context.Context) {
	if !t.begun || t.closed {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = t.conn.Exec(rctx, "ROLLBACK")
	t.closed = true
}

// SendBatch sends b within the transaction; the first batch carries the
// BEGIN, whose result the returned BatchResults consumes before b's.
func (t *PipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	t.begun = true
	withBegin := &pgx.Batch{}
	withBegin.Queue("BEGIN")
	withBegin.QueuedQueries = append(withBegin.QueuedQueries, b.QueuedQueries...)
	return &begunResults{BatchResults: t.conn.SendBatch(ctx, withBegin)}
}

// Query runs a query within the transaction (beginning it first, in a
// round trip of its own, if no batch has).
func (t *PipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

// QueryRow runs a query within the transaction.
func (t *PipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.begin(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

// Exec runs a statement within the transaction.
func (t *PipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *PipeTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	_, err := t.conn.Exec(ctx, "BEGIN")
	return err
}

// Commit sends the statements of last (nil for none) and the COMMIT in one
// pipeline and reads their results. The server refusing the transaction
// means nothing was committed (the caller then rolls back, as InPipeTx
// does); any other failure (refusedCommit) is joined with
// ErrCommitUnknown.
func (t *PipeTx) Commit(ctx context.Context, last *pgx.Batch) error {
	b := &pgx.Batch{}
	if !t.begun {
		t.begun = true
		b.Queue("BEGIN")
	}
	if last != nil {
		b.QueuedQueries = append(b.QueuedQueries, last.QueuedQueries...)
	}
	b.Queue("COMMIT")
	err := t.conn.SendBatch(ctx, b).Close()
	if err == nil {
		t.closed = true
		return nil
	}
	if refusedCommit(err) {
		return err
	}
	t.closed = true
	return errors.Join(err, ErrCommitUnknown)
}

// begunResults reads the BEGIN's result before the first of the batch's own.
type begunResults struct {
	pgx.BatchResults
	read bool
	err  error
}

func (r *begunResults) readBegin() error {
	if !r.read {
		r.read = true
		_, r.err = r.BatchResults.Exec()
	}
	return r.err
}

func (r *begunResults) Exec() (pgconn.CommandTag, error) {
	if err := r.readBegin(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return r.BatchResults.Exec()
}

func (r *begunResults) Query() (pgx.Rows, error) {
	if err := r.readBegin(); err != nil {
		return nil, err
	}
	return r.BatchResults.Query()
}

func (r *begunResults) QueryRow() pgx.Row {
	if err := r.readBegin(); err != nil {
		return errRow{err}
	}
	return r.BatchResults.QueryRow()
}

func (r *begunResults) Close() error {
	err := r.readBegin()
	if cerr := r.BatchResults.Close(); err == nil {
		err = cerr
	}
	return err
}
