package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/sdk"
)

// orderPage answers a list request with orders named by ids.
func orderPage(hasMore bool, next string, ids ...string) http.HandlerFunc {
	var data []string
	for _, id := range ids {
		data = append(data, fmt.Sprintf(`{"id":%q,"amount":100,"status":"paid","created_at":"2026-11-26T10:00:00Z"}`, id))
	}
	return answer(200, fmt.Sprintf(`{"data":[%s],"has_more":%v,"next_cursor":%q}`, strings.Join(data, ","), hasMore, next))
}

func collect(t *testing.T, seq func(func(*sdk.Order, error) bool)) (ids []string, errs []error) {
	t.Helper()
	for o, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, o.ID)
	}
	return ids, errs
}

func TestListOrdersPagesThrough(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{
		orderPage(true, "o2", "o1", "o2"),
		orderPage(true, "o4", "o3", "o4"),
		orderPage(false, "", "o5"),
		refuse(500, "internal"), // a fourth request would be a bug
	})
	ids, errs := collect(t, client.ListOrders(context.Background(), &sdk.ListOrdersParams{Status: sdk.OrderPaid, Limit: 2}))
	if want := []string{"o1", "o2", "o3", "o4", "o5"}; !slices.Equal(ids, want) || errs != nil {
		t.Fatalf("yielded %v, errors %v; want %v", ids, errs, want)
	}
	reqs := gw.seen()
	if len(reqs) != 3 {
		t.Fatalf("%d requests; want 3 pages", len(reqs))
	}
	for i, after := range []string{"", "o2", "o4"} {
		u, _ := url.ParseRequestURI(reqs[i].RequestURI)
		q := u.Query()
		if u.Path != "/v1/orders" || q.Get("starting_after") != after || q.Get("status") != "paid" || q.Get("limit") != "2" {
			t.Errorf("page %d request = %s; want status=paid, limit=2, starting_after=%q", i+1, reqs[i].RequestURI, after)
		}
	}
}

func TestListOrdersYieldsAnErrorMidway(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{orderPage(true, "o2", "o1", "o2"), refuse(404, "not_found"), orderPage(false, "", "o3")})
	ids, errs := collect(t, client.ListOrders(context.Background(), nil))
	if !slices.Equal(ids, []string{"o1", "o2"}) || len(errs) != 1 || !errors.Is(errs[0], sdk.ErrNotFound) {
		t.Errorf("yielded %v, errors %v; want o1, o2 and then one not_found", ids, errs)
	}
	if n := len(gw.seen()); n != 2 {
		t.Errorf("%d requests; want 2: the listing ends at its error", n)
	}
}

func TestListOrdersStopsWhenTheCallerDoes(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{orderPage(true, "o2", "o1", "o2"), orderPage(false, "", "o3")})
	for o, err := range client.ListOrders(context.Background(), nil) {
		if err != nil || o.ID != "o1" {
			t.Fatalf("first = %v, %v", o, err)
		}
		break
	}
	if n := len(gw.seen()); n != 1 {
		t.Errorf("%d requests; want 1: no page is fetched past a break", n)
	}
}

func TestListOrdersRangesTwice(t *testing.T) {
	client, _, _ := newScripted(t, []http.HandlerFunc{orderPage(true, "o1", "o1"), orderPage(false, "", "o2"),
		orderPage(true, "o1", "o1"), orderPage(false, "", "o2")})
	seq := client.ListOrders(context.Background(), &sdk.ListOrdersParams{StartingAfter: "o0"})
	first, _ := collect(t, seq)
	second, _ := collect(t, seq)
	if !slices.Equal(first, second) || len(first) != 2 {
		t.Errorf("ranges yielded %v then %v; want the same two orders", first, second)
	}
}

func TestListCursorFallbacks(t *testing.T) {
	t.Run("has_more without next_cursor uses the last id", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{orderPage(true, "", "o1", "o2"), orderPage(false, "", "o3")})
		ids, errs := collect(t, client.ListOrders(context.Background(), nil))
		if len(ids) != 3 || errs != nil || !strings.Contains(gw.seen()[1].RequestURI, "starting_after=o2") {
			t.Errorf("yielded %v, %v, second request %s", ids, errs, gw.seen()[1].RequestURI)
		}
	})
	t.Run("a cursor that does not move is an error, not a loop", func(t *testing.T) {
		client, gw, _ := newScripted(t, []http.HandlerFunc{orderPage(true, "o2", "o1", "o2")})
		ids, errs := collect(t, client.ListOrders(context.Background(), nil))
		if len(ids) != 4 || len(errs) != 1 || len(gw.seen()) != 2 {
			t.Errorf("yielded %v, %v after %d requests; want 4 orders, 1 error, 2 requests", ids, errs, len(gw.seen()))
		}
	})
}

func TestListEventsAndSettlementsPage(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{
		answer(200, `{"data":[{"id":"e2","type":"order.paid","sequence":2},{"id":"e1","type":"order.paid","sequence":1}],"has_more":true,"next_cursor":"e1"}`),
		answer(200, `{"data":[],"has_more":false}`),
		answer(200, `{"data":[{"date":"2026-11-25","net":1190}],"has_more":true}`),
		answer(200, `{"data":[{"date":"2026-11-24","net":500}],"has_more":false}`),
	})
	ctx := context.Background()
	var events []string
	for e, err := range client.ListEvents(ctx, &sdk.ListEventsParams{OrderID: "o 1", Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e.ID)
	}
	var days []string
	for s, err := range client.ListSettlements(ctx, &sdk.ListSettlementsParams{From: "2026-11-01", To: "2026-11-30"}) {
		if err != nil {
			t.Fatal(err)
		}
		days = append(days, s.Date)
	}
	reqs := gw.seen()
	want := []string{
		"/v1/webhooks/events?limit=2&order_id=o+1",
		"/v1/webhooks/events?limit=2&order_id=o+1&starting_after=e1",
		"/v1/settlements?from=2026-11-01&to=2026-11-30",
		"/v1/settlements?from=2026-11-01&starting_after=2026-11-25&to=2026-11-30",
	}
	for i, r := range reqs {
		if r.RequestURI != want[i] {
			t.Errorf("request %d = %s; want %s", i+1, r.RequestURI, want[i])
		}
	}
	if !slices.Equal(events, []string{"e2", "e1"}) || !slices.Equal(days, []string{"2026-11-25", "2026-11-24"}) {
		t.Errorf("events %v, days %v", events, days)
	}
}
