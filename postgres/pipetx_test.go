package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// TestFatalAnswerToCommitIsUnknown: a session the server ends while it
// answers the COMMIT (pg_terminate_backend, a shutdown: severity FATAL)
// says nothing of whether the COMMIT took effect — the server may end the
// session just after writing the commit — so the outcome is unknown, never
// "nothing committed", which would let a caller give back what the
// transaction spent. (Here a deferred trigger ends its own session inside
// the COMMIT.)
func TestFatalAnswerToCommitIsUnknown(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE fatal_commit (id int);
		CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER end_session AFTER INSERT ON fatal_commit DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION end_session()`); err != nil {
		t.Fatal(err)
	}
	err := postgres.InPipeTx(ctx, pool, func(tx *postgres.PipeTx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO fatal_commit VALUES (1)`)
		return tx.Commit(ctx, b)
	})
	if err == nil {
		t.Fatal("the COMMIT whose session was ended succeeded")
	}
	if !errors.Is(err, postgres.ErrCommitUnknown) {
		t.Errorf("err = %v; want ErrCommitUnknown: a FATAL answer is no proof that nothing committed", err)
	}
	// A refusal of the transaction itself (severity ERROR) still means
	// nothing committed.
	err = postgres.InPipeTx(ctx, pool, func(tx *postgres.PipeTx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT 1/0`)
		return tx.Commit(ctx, b)
	})
	if err == nil || errors.Is(err, postgres.ErrCommitUnknown) {
		t.Errorf("err = %v; want a refusal that is not ErrCommitUnknown", err)
	}
}
