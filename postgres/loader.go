package postgres

import (
	"context"
	"sync"
)

// Combiner runs one statement for many concurrent callers: while one
// statement is in flight, the callers that arrive wait together and are then
// served by a single statement for all of them (a read WHERE … = ANY, an
// INSERT … SELECT FROM unnest), so under load each costs a fraction of a
// round trip — and, for a write outside a transaction, a fraction of a
// commit — while a lone caller still gets its statement at once. It starts
// no goroutine: one of the waiting callers runs the next statement, so there
// is nothing to stop.
type Combiner[In, Out any] struct {
	run func(ctx context.Context, ins []In) ([]Out, error)
	max int

	mu      sync.Mutex
	busy    bool // a statement is in flight
	waiting []*combined[In, Out]
}

// combined is one caller's input and, once its statement ran, its answer.
type combined[In, Out any] struct {
	in  In
	out Out
	err error
	// wake is closed when the answer is in, or when this caller is to run
	// the statement for batch.
	wake  chan struct{}
	batch []*combined[In, Out]
	taken bool // in a batch: it will be answered, it must not leave
}

// NewCombiner returns a combiner whose run serves up to max callers with
// one statement and returns their answers in the order of ins (or an error
// for them all).
func NewCombiner[In, Out any](max int, run func(ctx context.Context, ins []In) ([]Out, error)) *Combiner[In, Out] {
	return &Combiner[In, Out]{run: run, max: max}
}

// Do returns in's answer or its statement's error. A caller that leaves
// (ctx ends) before its statement started gets ctx's error and was never
// sent; one whose statement already runs waits for it, within the
// statement's own deadline.
func (cb *Combiner[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	c := &combined[In, Out]{in: in, wake: make(chan struct{})}
	cb.mu.Lock()
	if !cb.busy {
		cb.busy = true
		c.taken, c.batch = true, []*combined[In, Out]{c}
		cb.mu.Unlock()
		cb.serve(ctx, c.batch)
		return c.out, c.err
	}
	cb.waiting = append(cb.waiting, c)
	cb.mu.Unlock()
	select {
	case <-c.wake:
	case <-ctx.Done():
		cb.mu.Lock()
		if !c.taken {
			for i, w := range cb.waiting {
				if w == c {
					cb.waiting = append(cb.waiting[:i], cb.waiting[i+1:]...)
					break
				}
			}
			cb.mu.Unlock()
			var zero Out
			return zero, ctx.Err()
		}
		cb.mu.Unlock()
		<-c.wake
	}
	if c.batch != nil { // this caller runs the next statement
		cb.serve(ctx, c.batch)
	}
	return c.out, c.err
}

// serve runs batch's statement, answers its callers, and hands the next
// batch to one of the callers waiting meanwhile (or marks the combiner idle).
func (cb *Combiner[In, Out]) serve(ctx context.Context, batch []*combined[In, Out]) {
	ins := make([]In, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	// The statement serves other callers too: one caller leaving must not
	// cancel it. The database's own statement deadline bounds it.
	outs, err := cb.run(context.WithoutCancel(ctx), ins)
	for i, c := range batch {
		if err == nil && i < len(outs) {
			c.out = outs[i]
		}
		c.err = err
	}
	cb.mu.Lock()
	var next []*combined[In, Out]
	if n := min(len(cb.waiting), cb.max); n > 0 {
		next = cb.waiting[:n:n]
		cb.waiting = append([]*combined[In, Out](nil), cb.waiting[n:]...)
		for _, c := range next {
			c.taken = true
		}
		next[0].batch = next
	} else {
		cb.busy = false
	}
	cb.mu.Unlock()
	// The runner is batch[0] and reads its own answer; the others wake.
	for _, c := range batch[1:] {
		close(c.wake)
	}
	if next != nil {
		close(next[0].wake)
	}
}

// Loader reads rows by key for many concurrent callers with few queries: a
// Combiner whose callers ask for a row by key, each key queried once per
// statement.
type Loader[K comparable, V any] struct {
	c *Combiner[K, found[V]]
}

type found[V any] struct {
	v  V
	ok bool
}

// NewLoader returns a loader whose fetch reads the rows of up to max keys
// in one query and returns those it found.
//
// A fetch's query runs with a different number of keys nearly every time.
// Given the key array directly (unnest($1), = ANY($1)), PostgreSQL
// estimates its rows from each call's array, finds every call's own plan
// cheaper than the prepared statement's generic one, and plans every call
// anew: for a join, costlier than running it. Pass the keys through a
// subquery that is not flattened, so the estimate is the same for every
// call and the generic plan is kept. That plan is made once per connection
// and kept until the table's statistics change, so it must not depend on
// the table's size when it was made (a table nearly empty makes a scan of
// it look cheapest): make each key its own index probe, a LATERAL subquery
// with LIMIT 1, which the planner never flattens into a join:
//
//	FROM (SELECT $1::uuid[] AS ids OFFSET 0) AS keys
//	CROSS JOIN LATERAL unnest(keys.ids) AS k(id)
//	CROSS JOIN LATERAL (SELECT * FROM t WHERE t.id = k.id LIMIT 1) AS t
func NewLoader[K comparable, V any](max int, fetch func(ctx context.Context, keys []K) (map[K]V, error)) *Loader[K, V] {
	return &Loader[K, V]{c: NewCombiner(max, func(ctx context.Context, keys []K) ([]found[V], error) {
		unique := make([]K, 0, len(keys))
		seen := make(map[K]bool, len(keys))
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				unique = append(unique, k)
			}
		}
		rows, err := fetch(ctx, unique)
		if err != nil {
			return nil, err
		}
		out := make([]found[V], len(keys))
		for i, k := range keys {
			out[i].v, out[i].ok = rows[k]
		}
		return out, nil
	})}
}

// Load returns key's row, whether it exists, or the query's error. A caller
// that leaves (ctx ends) before its query started gets ctx's error; one whose
// query already runs waits for it, within the query's own deadline.
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, bool, error) {
	r, err := l.c.Do(ctx, key)
	return r.v, r.ok, err
}
