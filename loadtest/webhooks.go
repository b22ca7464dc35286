package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// receiver is the webhook endpoint of the run's merchants (-webhooks), as
// a merchant's server is: merchant i's deliveries come to /hooks/i, are
// verified with that merchant's secret by the SDK (sdk.ConstructEvent) and
// recorded by event id. Delivery is at least once, so an event delivered
// again is counted as a duplicate, not recorded twice.
type receiver struct {
	addr string // where it listens: the port chosen by the first listen

	mu        sync.Mutex
	srv       *http.Server // nil while the endpoint is down
	failing   bool         // answering 503
	merchants []hookMerchant
	events    map[string]bool              // the event ids received
	byKey     map[eventKey]map[string]bool // the events of each order and type
	firstAt   map[eventKey]time.Time       // when each order and type was first received
	counts    struct{ deliveries, duplicates, badSignature, misdirected, refused int64 }
	arrived   chan struct{} // a new event was received
	stopped   chan struct{} // close: an outage in progress ends
	stopOnce  sync.Once
	outageLog io.Writer
}

type hookMerchant struct{ id, secret string }

// eventKey is an order and an event type: a payment of the order in the
// ledger means one order.paid event, each refund one order.refunded.
type eventKey struct {
	order string
	typ   sdk.EventType
}

// listenWebhooks starts the receiver on addr (host:port; port 0 picks one).
func listenWebhooks(addr string, n int, progress io.Writer) (*receiver, error) {
	rc := &receiver{merchants: make([]hookMerchant, n), events: map[string]bool{}, byKey: map[eventKey]map[string]bool{},
		firstAt: map[eventKey]time.Time{}, arrived: make(chan struct{}, 1), stopped: make(chan struct{}), outageLog: progress}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-webhooks: %w", err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	return rc, nil
}

// url is merchant i's webhook URL.
func (rc *receiver) url(i int) string { return fmt.Sprintf("http://%s/hooks/%d", rc.addr, i) }

// setMerchant tells the receiver whose deliveries come to /hooks/i.
func (rc *receiver) setMerchant(i int, id, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.merchants[i] = hookMerchant{id: id, secret: secret}
}

func (rc *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	select {
	case <-rc.stopped: // closed meanwhile: an outage ending after the run
		_ = ln.Close()
		return
	default:
	}
	rc.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// close stops the receiver and any outage in progress.
func (rc *receiver) close() {
	rc.stopOnce.Do(func() { close(rc.stopped) })
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return // the connection broke: the gateway sees no answer and retries
	}
	rc.mu.Lock()
	failing := rc.failing
	if failing {
		rc.counts.refused++
	}
	var m hookMerchant
	i, perr := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hooks/"))
	if perr == nil && i >= 0 && i < len(rc.merchants) {
		m = rc.merchants[i]
	}
	rc.mu.Unlock()
	if failing {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || m.secret == "" {
		rc.count(func() { rc.counts.badSignature++ })
		http.NotFound(w, r)
		return
	}
	ev, err := sdk.ConstructEvent(body, r.Header.Get(sdk.WebhookSignatureHeader), m.secret, 0)
	if err != nil {
		rc.count(func() { rc.counts.badSignature++ })
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.counts.deliveries++
	if ev.Data.Order != nil && ev.Data.Order.MerchantID != m.id {
		rc.counts.misdirected++ // signed with this merchant's secret, about another's order
	}
	if rc.events[ev.ID] {
		rc.counts.duplicates++
		return
	}
	rc.events[ev.ID] = true
	k := eventKey{order: ev.OrderID, typ: ev.Type}
	if rc.byKey[k] == nil {
		rc.byKey[k] = map[string]bool{}
		rc.firstAt[k] = time.Now()
	}
	rc.byKey[k][ev.ID] = true
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
}

func (rc *receiver) count(f func()) {
	rc.mu.Lock()
	f()
	rc.mu.Unlock()
}

// outage takes the endpoint down after at, for length: for the first half
// it refuses connections (its listener closed, the connections open to it
// cut: the merchant's server is down), for the second half it answers every
// delivery 503 (the server is back, its application not yet), then it
// accepts deliveries again.
func (rc *receiver) outage(at, length time.Duration) {
	wait := func(d time.Duration) bool {
		select {
		case <-rc.stopped:
			return false
		case <-time.After(d):
			return true
		}
	}
	go func() {
		if !wait(at) {
			return
		}
		rc.mu.Lock()
		srv := rc.srv
		rc.srv = nil
		rc.mu.Unlock()
		if srv == nil {
			return
		}
		_ = srv.Close()
		logf(rc.outageLog, "webhooks: endpoint down (connections refused) for %v", length/2)
		if !wait(length / 2) {
			return
		}
		ln, err := rc.relisten()
		if err != nil {
			logf(rc.outageLog, "webhooks: %v", err)
			return
		}
		rc.mu.Lock()
		rc.failing = true
		rc.mu.Unlock()
		rc.serve(ln)
		logf(rc.outageLog, "webhooks: endpoint answering 503 for %v", length-length/2)
		if !wait(length - length/2) {
			return
		}
		rc.mu.Lock()
		rc.failing = false
		rc.mu.Unlock()
		logf(rc.outageLog, "webhooks: endpoint up again")
	}()
}

// relisten opens the receiver's address again (the merchants' URLs name
// its port), retrying for a while should the port not be free yet.
func (rc *receiver) relisten() (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", rc.addr); err == nil {
			return ln, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("listening on %s again: %w", rc.addr, err)
}

// webhookReport is what the receiver saw, against what the ledger holds.
type webhookReport struct {
	URL string `json:"url"`
	// Expected is one event for each payment (order.paid) and refund
	// (order.refunded) in the ledger; Delivered how many of them came, and
	// Missing how many did not within -webhook-wait.
	Expected  int64 `json:"expected"`
	Delivered int64 `json:"delivered"`
	Missing   int64 `json:"missing"`
	// Deliveries is every verified delivery, Duplicates those of an event
	// received before (delivery is at least once).
	Deliveries int64 `json:"deliveries"`
	Duplicates int64 `json:"duplicates"`
	// BadSignature counts deliveries the SDK refused (or that came to no
	// merchant's path); Misdirected those about another merchant's order;
	// Unexpected the order.paid and order.refunded events beyond what the
	// ledger holds.
	BadSignature int64 `json:"bad_signature"`
	Misdirected  int64 `json:"misdirected"`
	Unexpected   int64 `json:"unexpected"`
	// Refused is the deliveries answered 503 during -webhook-outage (the
	// connections refused before are not seen here).
	Refused int64 `json:"refused"`
	// SettledAfterS is how long after the end of the load the last expected
	// event arrived (0 when all came before).
	SettledAfterS float64 `json:"settled_after_s"`
}

// awaitWebhooks waits, at most -webhook-wait, until every event the ledger
// implies has been received, then reports what came and what did not.
func (r *runner) awaitWebhooks(ctx context.Context, ended time.Time) (webhookReport, []string) {
	rc := r.hooks
	want, partial := r.expectedEvents()
	deadline := time.After(r.o.webhookWait)
wait:
	for rc.missing(want) > 0 {
		select {
		case <-rc.arrived:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rep := webhookReport{URL: "http://" + rc.addr + "/hooks/", Deliveries: rc.counts.deliveries, Duplicates: rc.counts.duplicates,
		BadSignature: rc.counts.badSignature, Misdirected: rc.counts.misdirected, Refused: rc.counts.refused}
	var missing []string
	for k, n := range want {
		got := int64(len(rc.byKey[k]))
		rep.Expected += n
		rep.Delivered += min(got, n)
		if got < n {
			rep.Missing += n - got
			missing = append(missing, fmt.Sprintf("%s of order %s", k.typ, k.order))
		} else if at := rc.firstAt[k]; at.After(ended) {
			rep.SettledAfterS = max(rep.SettledAfterS, at.Sub(ended).Seconds())
		}
	}
	for k, ids := range rc.byKey {
		if (k.typ == sdk.EventOrderPaid || k.typ == sdk.EventOrderRefunded) && int64(len(ids)) > want[k] {
			rep.Unexpected += int64(len(ids)) - want[k]
		}
	}
	var v []string
	if rep.Missing > 0 {
		sort.Strings(missing)
		v = append(v, fmt.Sprintf("webhooks: %d of %d events not delivered within %v (-webhook-wait): %s%s",
			rep.Missing, rep.Expected, r.o.webhookWait, strings.Join(missing[:min(3, len(missing))], ", "), r.whyMissing(ctx, missing)))
	}
	if rep.BadSignature > 0 {
		v = append(v, fmt.Sprintf("webhooks: %d deliveries not verified with their merchant's secret", rep.BadSignature))
	}
	if rep.Misdirected > 0 {
		v = append(v, fmt.Sprintf("webhooks: %d deliveries about another merchant's order", rep.Misdirected))
	}
	if rep.Unexpected > 0 && !partial { // else a wallet's history failed, which is a violation already
		v = append(v, fmt.Sprintf("webhooks: %d order.paid or order.refunded events beyond the ledger's payments and refunds", rep.Unexpected))
	}
	return rep, v
}

// missing is how many expected events have not been received yet.
func (rc *receiver) missing(want map[eventKey]int64) int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var n int64
	for k, w := range want {
		n += max(0, w-int64(len(rc.byKey[k])))
	}
	return n
}

// whyMissing asks the gateway where the delivery of the first missing
// event stands (the events API of its merchant, among the first few).
func (r *runner) whyMissing(ctx context.Context, missing []string) string {
	_, order, _ := strings.Cut(missing[0], " of order ")
	for _, m := range r.merchants[:min(5, len(r.merchants))] {
		for ev, err := range m.client.ListEvents(ctx, &sdk.ListEventsParams{OrderID: order}) {
			if err != nil {
				return fmt.Sprintf(" (the events API: %v)", err)
			}
			full, err := m.client.GetEvent(ctx, ev.ID)
			if err != nil || full.Delivery == nil {
				continue
			}
			d := full.Delivery
			why := fmt.Sprintf(" (%s %s: %s after %d attempts", ev.Type, ev.ID, d.Status, len(d.Attempts))
			if n := len(d.Attempts); n > 0 && d.Attempts[n-1].Error != "" {
				why += "; the last: " + d.Attempts[n-1].Error
				if strings.Contains(d.Attempts[n-1].Error, "not allowed") {
					why += ": the gateway's WEBHOOK_ALLOW_NETWORKS must include it"
				}
			}
			return why + ")"
		}
	}
	return ""
}

// expectedEvents is what the last invariant check found in the ledger, and
// whether it could read only part of it.
func (r *runner) expectedEvents() (map[eventKey]int64, bool) {
	r.ledgerEvents.Lock()
	defer r.ledgerEvents.Unlock()
	return r.ledgerEvents.m, r.ledgerEvents.partial
}

// noteLedgerEvent records that the ledger holds a movement that the
// merchant is told of by a webhook.
func (r *runner) noteLedgerEvent(order string, typ sdk.EventType) {
	if order == "" {
		return
	}
	r.ledgerEvents.Lock()
	defer r.ledgerEvents.Unlock()
	r.ledgerEvents.m[eventKey{order: order, typ: typ}]++
}

// parseOutage reads -webhook-outage, AT+LENGTH: from AT into the timed
// phase, for LENGTH.
func parseOutage(s string) (at, length time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, l, ok := strings.Cut(s, "+")
	if ok {
		at, err = time.ParseDuration(a)
	}
	if ok && err == nil {
		length, err = time.ParseDuration(l)
	}
	if !ok || err != nil || at < 0 || length <= 0 {
		return 0, 0, errors.New("-webhook-outage wants AT+LENGTH, such as 4s+8s")
	}
	return at, length, nil
}
