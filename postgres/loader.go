package postgres

import (
	"context"
	"sync"
)

// Loader reads rows by key for many concurrent callers with few queries:
// while one query is in flight, the callers that arrive wait together and
// are then served by a single query for all their keys (WHERE … = ANY, say),
// so under load a read costs a fraction of a round trip, and a lone caller
// still gets its query at once. It starts no goroutine: one of the waiting
// callers runs the next query, so there is nothing to stop.
type Loader[K comparable, V any] struct {
	fetch func(ctx context.Context, keys []K) (map[K]V, error)
	max   int

	mu      sync.Mutex
	busy    bool // a query is in flight
	waiting []*load[K, V]
}

// load is one caller's key and, once its query ran, its answer.
type load[K comparable, V any] struct {
	key   K
	v     V
	found bool
	err   error
	// wake is closed when the answer is in, or when this caller is to run
	// the query for batch.
	wake  chan struct{}
	batch []*load[K, V]
	taken bool // in a batch: it will be answered, it must not leave
}

// NewLoader returns a loader whose fetch reads the rows of up to max keys
// in one query and returns those it found.
func NewLoader[K comparable, V any](max int, fetch func(ctx context.Context, keys []K) (map[K]V, error)) *Loader[K, V] {
	return &Loader[K, V]{fetch: fetch, max: max}
}

// Load returns key's row, whether it exists, or the query's error. A caller
// that leaves (ctx ends) before its query started gets ctx's error; one whose
// query already runs waits for it, within the query's own deadline.
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, bool, error) {
	c := &load[K, V]{key: key, wake: make(chan struct{})}
	l.mu.Lock()
	if !l.busy {
		l.busy = true
		c.taken, c.batch = true, []*load[K, V]{c}
		l.mu.Unlock()
		l.run(ctx, c.batch)
		return c.v, c.found, c.err
	}
	l.waiting = append(l.waiting, c)
	l.mu.Unlock()
	select {
	case <-c.wake:
	case <-ctx.Done():
		l.mu.Lock()
		if !c.taken {
			for i, w := range l.waiting {
				if w == c {
					l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
					break
				}
			}
			l.mu.Unlock()
			var zero V
			return zero, false, ctx.Err()
		}
		l.mu.Unlock()
		<-c.wake
	}
	if c.batch != nil { // this caller runs the next query
		l.run(ctx, c.batch)
	}
	return c.v, c.found, c.err
}

// run queries batch, answers its callers, and hands the next batch to one of
// the callers waiting meanwhile (or marks the loader idle).
func (l *Loader[K, V]) run(ctx context.Context, batch []*load[K, V]) {
	keys := make([]K, 0, len(batch))
	seen := make(map[K]bool, len(batch))
	for _, c := range batch {
		if !seen[c.key] {
			seen[c.key] = true
			keys = append(keys, c.key)
		}
	}
	// The query serves other callers too: one caller leaving must not
	// cancel it. The database's own statement deadline bounds it.
	rows, err := l.fetch(context.WithoutCancel(ctx), keys)
	for _, c := range batch {
		c.v, c.found = rows[c.key]
		c.err = err
	}
	l.mu.Lock()
	var next []*load[K, V]
	if n := min(len(l.waiting), l.max); n > 0 {
		next = l.waiting[:n:n]
		l.waiting = append([]*load[K, V](nil), l.waiting[n:]...)
		for _, c := range next {
			c.taken = true
		}
		next[0].batch = next
	} else {
		l.busy = false
	}
	l.mu.Unlock()
	// The runner is batch[0] and reads its own answer; the others wake.
	for _, c := range batch[1:] {
		close(c.wake)
	}
	if next != nil {
		close(next[0].wake)
	}
}
