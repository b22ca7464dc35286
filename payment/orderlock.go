package payment

import (
	"context"
	"sync"
)

// orderLocks hands out one lock per order id. Refunds of one order take it
// around reading the order and posting the refund, so that within a
// gateway they are decided one after another against the order as the
// previous one left it: the refund's fee share is computed from what was
// refunded before (merchant.RefundFee), and a refund decided on a stale read
// would be refused by the ledger batch (ledger.ErrOrderChanged) for no
// reason of its own. The lock is in memory, not in PostgreSQL: a waiting
// refund holds no database connection, which the ledger's committers need
// to finish the refund being waited for.
type orderLocks struct {
	mu    sync.Mutex
	locks map[string]*orderLock
}

type orderLock struct {
	token chan struct{} // holds one value while the lock is held
	refs  int           // the holder and the waiters; the entry goes at zero
}

// lock waits for the order's lock, or for ctx to end, and returns the
// function that releases it.
func (l *orderLocks) lock(ctx context.Context, orderID string) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*orderLock{}
	}
	e := l.locks[orderID]
	if e == nil {
		e = &orderLock{token: make(chan struct{}, 1)}
		l.locks[orderID] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.locks, orderID)
		}
		l.mu.Unlock()
	}
	select {
	case e.token <- struct{}{}:
		return func() { <-e.token; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
