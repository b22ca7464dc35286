package main

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// wire counts the requests the timed phase sends, as they go over the
// wire (each retry of an SDK call is one), by the answer's status, and
// checks that every 503 says when to come back.
type wire struct {
	next http.RoundTripper
	on   atomic.Bool // counting: the timed phase is running

	mu                 sync.Mutex
	byStatus           map[int]int64
	noAnswer           int64
	unavailableNoRetry int64 // 503 answers without Retry-After
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if !w.on.Load() {
		return resp, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if req.Context().Err() == nil { // not one the end of the run cut short
			w.noAnswer++
		}
		return resp, err
	}
	if w.byStatus == nil {
		w.byStatus = map[int]int64{}
	}
	w.byStatus[resp.StatusCode]++
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		w.unavailableNoRetry++
	}
	return resp, err
}

// answers are the timed phase's requests on the wire. Lost and Duplicated
// come from the checks after the run.
type answers struct {
	Requests int64            `json:"requests"`
	S2xx     int64            `json:"2xx"`
	S4xx     int64            `json:"4xx"`
	S5xx     int64            `json:"5xx"`
	ByStatus map[string]int64 `json:"by_status"`
	NoAnswer int64            `json:"no_answer"`
	// S503 counts 503 answers; S503NoRetryAfter those without Retry-After.
	S503             int64 `json:"503"`
	S503NoRetryAfter int64 `json:"503_without_retry_after"`
	// Lost is the money-moving requests whose outcome the run did not learn
	// (no answer, a 5xx, or cut short by the end of the run); each was sent
	// again after the run with its key.
	Lost int64 `json:"lost"`
	// Unresolved is those whose outcome the resend did not tell either.
	Unresolved int64 `json:"unresolved"`
	// Duplicated is the extra ledger transfers for one acknowledged
	// payment (each should be there once).
	Duplicated int64 `json:"duplicated"`
}

func (w *wire) answers() answers {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := answers{ByStatus: map[string]int64{}, NoAnswer: w.noAnswer, S503: w.byStatus[http.StatusServiceUnavailable],
		S503NoRetryAfter: w.unavailableNoRetry}
	a.Requests = a.NoAnswer
	for s, n := range w.byStatus {
		a.Requests += n
		a.ByStatus[strconv.Itoa(s)] = n
		switch s / 100 {
		case 2:
			a.S2xx += n
		case 4:
			a.S4xx += n
		case 5:
			a.S5xx += n
		}
	}
	return a
}
