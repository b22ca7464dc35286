package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/postgres"
)

// TestConnectionErrorsNameTheDatabase: when the server cannot be reached,
// the error names the database and server of DATABASE_URL — not the
// "postgres" maintenance database used to create it — and never the
// password.
func TestConnectionErrorsNameTheDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const url = "postgres://alice:s3cret@127.0.0.1:1/shop_ledger?connect_timeout=2"
	for name, err := range map[string]error{
		"EnsureDatabase": postgres.EnsureDatabase(ctx, url),
		"Open":           func() error { _, err := postgres.Open(ctx, url, 1); return err }(),
	} {
		if err == nil {
			t.Fatalf("%s: connected to a closed port", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, `"shop_ledger"`) || !strings.Contains(msg, "127.0.0.1:1") {
			t.Errorf("%s: %q does not name database \"shop_ledger\" on 127.0.0.1:1", name, msg)
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("%s: %q shows the password", name, msg)
		}
	}
}
