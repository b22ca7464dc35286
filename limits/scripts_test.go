package limits

import (
	"context"
	"testing"
	"time"

	"github.com/qrpay/qrpay/testenv"
)

// go-redis resends a script whose reply was lost. Run each script twice,
// as such a resend would, and check the second run changes nothing.
func TestScriptsAreIdempotent(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	key := prefix + "limits:{card:c}:2025-03-10"
	read := func() (u Usage, pending int64) {
		t.Helper()
		v, err := rdb.HMGet(ctx, key, "amount", "count", "pending").Result()
		if err != nil {
			t.Fatalf("HMGET: %v", err)
		}
		return Usage{Amount: toInt(v[0]), Count: toInt(v[1])}, toInt(v[2])
	}
	twice := func(name string, run func() error, want Usage, wantPending int64) {
		t.Helper()
		for i := range 2 {
			if err := run(); err != nil {
				t.Fatalf("%s run %d: %v", name, i+1, err)
			}
			if u, p := read(); u != want || p != wantPending {
				t.Errorf("after %s run %d: usage %+v, pending %d; want %+v, %d", name, i+1, u, p, want, wantPending)
			}
		}
	}
	ttl := (time.Hour).Milliseconds()
	twice("seed", func() error { return seedScript.Run(ctx, rdb, []string{key}, 40, 2, ttl).Err() },
		Usage{Amount: 40, Count: 2}, 0)
	twice("reserve", func() error {
		// The limits are tight: a resend that re-checked them would be refused.
		return reserveScript.Run(ctx, rdb, []string{key}, "r:a", 10, 50, 3).Err()
	}, Usage{Amount: 50, Count: 3}, 1)
	twice("release", func() error { return releaseScript.Run(ctx, rdb, []string{key}, "r:a", "k:a").Err() },
		Usage{Amount: 40, Count: 2}, 0)
	if err := reserveScript.Run(ctx, rdb, []string{key}, "r:b", 5, 50, 3).Err(); err != nil {
		t.Fatal(err)
	}
	twice("commit", func() error { return commitScript.Run(ctx, rdb, []string{key}, "r:b", "k:b").Err() },
		Usage{Amount: 45, Count: 3}, 0)
}
