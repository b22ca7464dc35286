package web

import "sync"

// orderHub wakes the display streams of an order when this replica has
// changed it (a payment, a close), so the display turns at once instead of
// at its next poll.
type orderHub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func (h *orderHub) subscribe(order string) chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[string]map[chan struct{}]struct{}{}
	}
	if h.subs[order] == nil {
		h.subs[order] = map[chan struct{}]struct{}{}
	}
	h.subs[order][ch] = struct{}{}
	return ch
}

func (h *orderHub) unsubscribe(order string, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[order], ch)
	if len(h.subs[order]) == 0 {
		delete(h.subs, order)
	}
}

// OrderChanged wakes the display streams of an order.
func (p *Pages) OrderChanged(order string) {
	h := &p.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[order] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
