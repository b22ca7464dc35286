package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var txRetries = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "qrpay_pg_tx_retries_total",
	Help: "Transactions retried after a serialization failure (40001) or deadlock (40P01).",
}, []string{"sqlstate"})

// MaxTxAttempts bounds InTx: a transaction that keeps losing is an error, not a loop.
const MaxTxAttempts = 6

// Beginner is a pool or a connection.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// InTx runs fn in a transaction and commits it. A serialization failure or a
// deadlock anywhere in it (fn or commit) rolls back and runs fn again, up to
// MaxTxAttempts times, sleeping a jittered, growing pause between attempts so
// that the transactions that collided do not collide again. fn must therefore
// be safe to run more than once: keep its side effects inside tx.
func InTx(ctx context.Context, db Beginner, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = runTx(ctx, db, opts, fn)
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

func runTx(ctx context.Context, db Beginner, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if refusedCommit(err) {
			return err
		}
		return errors.Join(err, ErrCommitUnknown)
	}
	return nil
}

// refusedCommit reports whether err, the answer to a COMMIT, says the
// transaction was rolled back: the server refused the transaction itself
// (severity ERROR: a deferred constraint, a serialization failure). Any
// other failure leaves the outcome unknown: the connection lost while the
// answer was awaited — pgx's "safe to retry" is no proof here, a
// connection cut while the server was still inside the COMMIT can come
// back as "conn closed", which pgx counts as never sent, though the server
// goes on to commit — or the session ended by the server (FATAL: a
// terminated backend, a shutdown), which may come just after the commit
// was written.
func refusedCommit(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Severity != "FATAL" && pgErr.Severity != "PANIC"
}

// ErrCommitUnknown marks a transaction whose COMMIT was sent but whose
// answer never came: it may have committed. Every other error of InTx means
// the transaction did not commit.
var ErrCommitUnknown = errors.New("the outcome of COMMIT is unknown")

// retryableCode returns the SQLSTATE when err is worth a new attempt.
func retryableCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
		return pgErr.Code
	}
	return ""
}

// IsUniqueViolation reports whether err is a unique_violation, optionally on constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" &&
		(constraint == "" || pgErr.ConstraintName == constraint)
}

// IsServerError reports whether err was raised by the server while running a
// statement (a constraint, a bad value) rather than by the network or the
// pool. Only such errors can be caused by one item of a batch.
func IsServerError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code[:2] != "08" && pgErr.Code[:2] != "57"
}
