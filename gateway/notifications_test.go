package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/wallet"
)

func notificationsOf(t *testing.T, env *gatewaytest.Env, c gatewaytest.Customer) []wallet.Notification {
	t.Helper()
	var all []wallet.Notification
	after := ""
	for {
		r := env.Do(t, "GET", "/v1/wallet/notifications?limit=100&starting_after="+after, nil, c.Auth()...)
		if r.Status != http.StatusOK {
			t.Fatalf("notifications = %d %s", r.Status, r.Body)
		}
		var page wallet.NotificationPage
		r.JSON(t, &page)
		all = append(all, page.Data...)
		if !page.HasMore {
			return all
		}
		after = page.NextCursor
	}
}

// TestFeedShowsExactlyCommittedMovements: payments race for a wallet's
// money, some refused for want of funds; the feed holds one entry per
// committed transfer and none for a refused one.
func TestFeedShowsExactlyCommittedMovements(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	payers := []gatewaytest.Payer{env.NewPayer(t, 10000), env.NewPayer(t, 7000), env.NewPayer(t, 3000)}
	const perPayer = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	paid := map[string]int{}
	for pi, p := range payers {
		for i := range perPayer {
			o := env.CreateOrder(t, k, 1000)
			wg.Go(func() {
				r := payOrder(t, env, p, o.QRPayload, fmt.Sprint("f", pi, "-", i), "")
				switch {
				case r.Status == http.StatusCreated:
					mu.Lock()
					paid[p.WalletID]++
					mu.Unlock()
				case r.Code() != "insufficient_funds":
					t.Errorf("payment = %d %s", r.Status, r.Body)
				}
			})
		}
	}
	wg.Wait()
	for _, p := range payers {
		var committed int
		if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM postings po JOIN customers c ON c.account_id = po.account_id
			WHERE c.id = $1`, p.WalletID).Scan(&committed); err != nil {
			t.Fatal(err)
		}
		money := 0
		for _, n := range notificationsOf(t, env, p.Customer) {
			if n.TransferID != "" {
				money++
			}
		}
		if money != committed || committed != paid[p.WalletID]+1 {
			t.Errorf("wallet %s: %d feed money entries, %d committed transfers, %d payments acknowledged + 1 top-up",
				p.WalletID, money, committed, paid[p.WalletID])
		}
	}
}

// sse reads server-sent events from a stream.
type sse struct {
	resp   *http.Response
	events chan [3]string // id, event, data
}

func openStream(t *testing.T, env *gatewaytest.Env, c gatewaytest.Customer, lastID string) *sse {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+"/v1/wallet/notifications/stream", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{resp: resp, events: make(chan [3]string, 64)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev [3]string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev[0] != "" {
					s.events <- ev
				}
				ev = [3]string{}
			case strings.HasPrefix(line, "id: "):
				ev[0] = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev[1] = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev[2] = line[6:]
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

func (s *sse) next(t *testing.T) [3]string {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return [3]string{}
}

// TestNotificationStream: a payment appears on the open stream at once; a
// stream resumed with Last-Event-ID sends what happened meanwhile, in
// order, including what another replica committed.
func TestNotificationStream(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	other := env.Replica(t)
	k := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 10000)
	s := openStream(t, env, p.Customer, "")
	payOrder(t, env, p, env.CreateOrder(t, k, 1200).QRPayload, "s1", "")
	ev := s.next(t)
	if ev[1] != "payment" || !strings.Contains(ev[2], `"amount":-1200`) {
		t.Fatalf("event = %v; want the payment", ev)
	}
	first := ev[0]
	s.resp.Body.Close()

	payOrder(t, env, p, env.CreateOrder(t, k, 1300).QRPayload, "s2", "")
	if r := other.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": env.CreateOrder(t, k, 1400).QRPayload, "card_id": p.CardID},
		p.Idem("s3")...); r.Status != http.StatusCreated {
		t.Fatalf("payment through the other replica = %d %s", r.Status, r.Body)
	}
	resumed := openStream(t, other, p.Customer, first)
	for _, want := range []string{`"amount":-1300`, `"amount":-1400`} {
		if ev := resumed.next(t); ev[1] != "payment" || !strings.Contains(ev[2], want) || ev[0] <= first {
			t.Errorf("resumed event = %v; want a payment with %s after id %s", ev, want, first)
		}
	}
	if r := env.Do(t, "GET", "/v1/wallet/notifications/stream", nil, append(p.Auth(), "Last-Event-ID", "x")...); r.Code() != "invalid" {
		t.Errorf("a bad Last-Event-ID = %d %s; want invalid", r.Status, r.Body)
	}
}

// TestAccessNotices: a sign-in, a limit change and a card freeze appear in
// the feed, newest first.
func TestAccessNotices(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 0)
	env.Do(t, "PATCH", "/v1/wallet/cards/"+p.CardID+"/limits", map[string]any{"daily_count": 10}, p.Auth()...)
	env.Do(t, "POST", "/v1/wallet/cards/"+p.CardID+"/freeze", nil, p.Auth()...)
	var types []string
	for _, n := range notificationsOf(t, env, p.Customer) {
		types = append(types, n.Type)
	}
	if got, want := strings.Join(types, ","), "card_frozen,limits_changed,login"; got != want {
		t.Errorf("feed = %s; want %s", got, want)
	}
}
