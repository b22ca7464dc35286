package idem

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/testenv"
)

func TestLifecycle(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	s := New(rdb, prefix, time.Minute, 24*time.Hour)
	ctx := context.Background()

	first, err := s.Begin(ctx, "wallet:a", "k", "fp1")
	if err != nil || first.State != Claimed || first.Token == "" {
		t.Fatalf("Begin(new) = %+v, %v; want Claimed with a token", first, err)
	}
	dup, _ := s.Begin(ctx, "wallet:a", "k", "fp1")
	if dup.State != InProgress || dup.RetryAfter <= 0 {
		t.Errorf("Begin(duplicate in flight) = %+v; want InProgress with RetryAfter", dup)
	}
	if other, _ := s.Begin(ctx, "wallet:a", "k", "fp2"); other.State != Mismatch {
		t.Errorf("Begin(other body) = %+v; want Mismatch", other)
	}
	if elsewhere, _ := s.Begin(ctx, "wallet:b", "k", "fp2"); elsewhere.State != Claimed {
		t.Errorf("Begin(same key, other caller) = %+v; want Claimed: keys are scoped", elsewhere)
	}
	// Only the claim's owner can finish it.
	if err := s.Finish(ctx, "wallet:a", "k", "not-the-token", Record{Status: 500}); err != nil {
		t.Fatal(err)
	}
	if still, _ := s.Begin(ctx, "wallet:a", "k", "fp1"); still.State != InProgress {
		t.Errorf("after a stranger's Finish = %+v; want still InProgress", still)
	}
	rec := Record{Status: 201, ContentType: "application/json", Body: []byte(`{"id":"x"}`)}
	if err := s.Finish(ctx, "wallet:a", "k", first.Token, rec); err != nil {
		t.Fatal(err)
	}
	done, _ := s.Begin(ctx, "wallet:a", "k", "fp1")
	if done.State != Done || done.Record.Status != 201 || string(done.Record.Body) != `{"id":"x"}` || done.Record.ContentType != "application/json" {
		t.Errorf("Begin(finished) = %+v; want Done with the stored response", done)
	}
	if ttl := rdb.PTTL(ctx, s.key("wallet:a", "k")).Val(); ttl < 23*time.Hour {
		t.Errorf("finished record TTL = %v; want about 24h", ttl)
	}
}

// TestLostReplyIsOurs: when the claim's reply is lost and the script runs
// again with the same token, the claim is recognised as ours, not as
// another request in progress.
func TestLostReplyIsOurs(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	s := New(rdb, prefix, time.Minute, 24*time.Hour)
	ctx := context.Background()
	args := []any{"tok-1", "fp", int64(60000)}
	keys := []string{s.key("wallet:a", "k")}
	for i := range 2 {
		res, err := begin.Run(ctx, rdb, keys, args...).Slice()
		if err != nil || res[0] != "claimed" {
			t.Errorf("begin #%d with the same token = %v, %v; want claimed", i+1, res, err)
		}
	}
	res, _ := begin.Run(ctx, rdb, keys, "tok-2", "fp", int64(60000)).Slice()
	if res[0] != "in_progress" {
		t.Errorf("begin with another token = %v; want in_progress", res)
	}
}

func TestAbandonFreesTheKey(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	s := New(rdb, prefix, time.Minute, 24*time.Hour)
	ctx := context.Background()
	o, _ := s.Begin(ctx, "m:1", "k", "fp")
	if err := s.Abandon(ctx, "m:1", "k", "someone-else"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Begin(ctx, "m:1", "k", "fp"); again.State != InProgress {
		t.Errorf("after a stranger's Abandon = %+v; want InProgress", again)
	}
	if err := s.Abandon(ctx, "m:1", "k", o.Token); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Begin(ctx, "m:1", "k", "fp"); again.State != Claimed {
		t.Errorf("after Abandon = %+v; want Claimed again", again)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	down := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", // nothing listens
		MaxRetries: 0, DialTimeout: 100 * time.Millisecond}), "down:", time.Minute, 24*time.Hour)
	_, err := down.Begin(context.Background(), "w", "k", "fp")
	if err == nil || !errs.Is(err, errs.Unavailable) {
		t.Errorf("Begin with Redis down = %v; want unavailable", err)
	}
}

// TestConcurrentClaimsThroughAutopipeline: the gateway sends the claim
// scripts through the client's autopipeliner. Of concurrent requests with
// one key, exactly one claims it, for keys whose records lie on different
// nodes of a cluster.
func TestConcurrentClaimsThroughAutopipeline(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ap, err := rdb.AutoPipeline()
	if err != nil {
		t.Fatalf("AutoPipeline on a %T: %v", rdb, err)
	}
	s := New(rdb, prefix, time.Minute, 24*time.Hour).Batching(ap)
	ctx := context.Background()
	const keys, perKey = 10, 20
	var claimed, inProgress [keys]atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range keys * perKey {
		wg.Go(func() {
			<-start
			k := fmt.Sprint("key-", i%keys)
			o, err := s.Begin(ctx, "wallet:ap", k, "fp")
			switch {
			case err != nil:
				t.Errorf("Begin(%s) = %v", k, err)
			case o.State == Claimed:
				claimed[i%keys].Add(1)
			case o.State == InProgress:
				inProgress[i%keys].Add(1)
			default:
				t.Errorf("Begin(%s) = %+v; want Claimed or InProgress", k, o)
			}
		})
	}
	close(start)
	wg.Wait()
	for k := range keys {
		if c, p := claimed[k].Load(), inProgress[k].Load(); c != 1 || p != perKey-1 {
			t.Errorf("key-%d: %d claimed, %d in progress; want 1 and %d", k, c, p, perKey-1)
		}
	}
}
