package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/testenv"
)

// UUIDs go to the server as their 16 bytes, alone and in arrays, and come
// back equal.
func TestUUIDsRoundTrip(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	one, many := uuid.New(), []uuid.UUID{uuid.New(), uuid.New(), uuid.Nil}
	var text string
	var back uuid.UUID
	var backs []uuid.UUID
	if err := pool.QueryRow(context.Background(), `SELECT $1::uuid::text, $1::uuid, $2::uuid[]`, one, many).
		Scan(&text, &back, &backs); err != nil {
		t.Fatal(err)
	}
	if text != one.String() || back != one {
		t.Errorf("uuid came back as %s / %s; want %s", text, back, one)
	}
	if len(backs) != len(many) || backs[0] != many[0] || backs[1] != many[1] || backs[2] != uuid.Nil {
		t.Errorf("uuid[] came back as %v; want %v", backs, many)
	}
}
