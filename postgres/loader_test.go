package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoaderBatchesConcurrentCallers: concurrent callers are answered by
// fewer queries than callers, each with its own row; callers that leave
// before their query starts get their context's error and hold nobody up;
// a failed query fails exactly its own callers; the loader ends idle.
func TestLoaderBatchesConcurrentCallers(t *testing.T) {
	t.Parallel()
	var queries, largest atomic.Int64
	failNext := atomic.Bool{}
	l := NewLoader(16, func(ctx context.Context, keys []int) (map[int]string, error) {
		queries.Add(1)
		if int64(len(keys)) > largest.Load() {
			largest.Store(int64(len(keys)))
		}
		if len(keys) > 16 {
			return nil, fmt.Errorf("batch of %d keys over the maximum", len(keys))
		}
		time.Sleep(2 * time.Millisecond)
		if failNext.CompareAndSwap(true, false) {
			return nil, errors.New("the database went away")
		}
		rows := map[int]string{}
		for _, k := range keys {
			if k%10 != 0 { // multiples of ten do not exist
				rows[k] = fmt.Sprint("row-", k)
			}
		}
		return rows, nil
	})
	const callers = 200
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			ctx := context.Background()
			if i%7 == 0 {
				c, cancel := context.WithTimeout(ctx, time.Duration(i%3)*time.Millisecond)
				defer cancel()
				ctx = c
			}
			key := i % 50
			v, found, err := l.Load(ctx, key)
			switch {
			case err != nil && ctx.Err() != nil:
				return // left while waiting
			case err != nil:
				errs <- fmt.Errorf("key %d: %v", key, err)
			case key%10 == 0 && found:
				errs <- fmt.Errorf("key %d: found %q; it does not exist", key, v)
			case key%10 != 0 && (!found || v != fmt.Sprint("row-", key)):
				errs <- fmt.Errorf("key %d = %q, %v", key, v, found)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if q := queries.Load(); q >= callers/2 {
		t.Errorf("%d callers took %d queries; want them batched", callers, q)
	}
	if largest.Load() > 16 {
		t.Errorf("largest batch %d keys; want at most 16", largest.Load())
	}

	failNext.Store(true)
	if _, _, err := l.Load(context.Background(), 1); err == nil {
		t.Error("a failed query answered its caller without an error")
	}
	if v, ok, err := l.Load(context.Background(), 3); err != nil || !ok || v != "row-3" {
		t.Errorf("after a failed query: %q, %v, %v", v, ok, err)
	}
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.c.busy || len(l.c.waiting) != 0 {
		t.Errorf("loader not idle after its callers: busy %v, %d waiting", l.c.busy, len(l.c.waiting))
	}
}
