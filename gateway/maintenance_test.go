package gateway_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/notice"
)

// maintenanceStaleness is what README promises for MAINTENANCE_CACHE_TTL's
// default: a change through one replica holds on another within 1 s (plus
// the read itself, here a generous 500 ms on a shared machine).
const maintenanceStaleness = 1500 * time.Millisecond

// TestMaintenanceAcrossReplicas: the operator starts maintenance through
// one replica; money-moving requests on the other answer 503 maintenance
// with the message and Retry-After within the staleness bound, while reads,
// /readyz and announcements keep working; stopping it reaches the other
// replica within the same bound.
func TestMaintenanceAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t)
	b := a.Replica(t)
	p := a.NewPayer(t, 1000)
	topUp := func(env *gatewaytest.Env, key string) gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": 100}, p.Idem(key)...)
	}
	// b has read the switch (off) just now: its memory is fresh.
	if r := topUp(b, "before"); r.Status != http.StatusCreated {
		t.Fatalf("top-up = %d %s", r.Status, r.Body)
	}
	op := []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
	end := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
	r := a.Do(t, "PUT", "/v1/admin/maintenance", map[string]any{"message": "Payments pause for a database upgrade.", "expected_end": end}, op...)
	if r.Status != http.StatusOK {
		t.Fatalf("start maintenance = %d %s", r.Status, r.Body)
	}
	started := time.Now()
	if r := topUp(a, "on-a"); r.Code() != "maintenance" {
		t.Errorf("top-up through the replica that started it = %d %s; want maintenance at once", r.Status, r.Body)
	}
	var refused gatewaytest.Response
	for {
		refused = topUp(b, "on-b")
		if refused.Code() == "maintenance" {
			break
		}
		if time.Since(started) > maintenanceStaleness {
			t.Fatalf("the other replica still moves money %v after maintenance started: %d %s", time.Since(started), refused.Status, refused.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if refused.Status != http.StatusServiceUnavailable || !strings.Contains(string(refused.Body), "database upgrade") {
		t.Errorf("refusal = %d %s; want 503 with the operator's message", refused.Status, refused.Body)
	}
	if s, err := strconv.Atoi(refused.Header.Get("Retry-After")); err != nil || s < 590 || s > 600 {
		t.Errorf("Retry-After = %q; want the ~600 s until the expected end", refused.Header.Get("Retry-After"))
	}
	if r := b.Do(t, "GET", "/v1/wallet", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Errorf("a read during maintenance = %d %s; want 200", r.Status, r.Body)
	}
	if r := b.Do(t, "GET", "/readyz", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"maintenance":"active"`) {
		t.Errorf("/readyz during maintenance = %d %s; want 200, maintenance active", r.Status, r.Body)
	}
	var list struct {
		Data []notice.Announcement `json:"data"`
	}
	b.Do(t, "GET", "/v1/announcements", nil).JSON(t, &list)
	if len(list.Data) != 1 || list.Data[0].Kind != notice.Planned || !strings.Contains(list.Data[0].Body, "database upgrade") {
		t.Errorf("announcements = %+v; want the maintenance announcement", list.Data)
	}

	if r := a.Do(t, "DELETE", "/v1/admin/maintenance", nil, op...); r.Status != http.StatusOK || strings.Contains(string(r.Body), `"active":true`) {
		t.Fatalf("stop maintenance = %d %s", r.Status, r.Body)
	}
	stopped := time.Now()
	for i := 0; ; i++ {
		r := topUp(b, "after-"+strconv.Itoa(i))
		if r.Status == http.StatusCreated {
			break
		}
		if time.Since(stopped) > maintenanceStaleness {
			t.Fatalf("the other replica still refuses %v after maintenance stopped: %d %s", time.Since(stopped), r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("maintenance ended on the other replica within %v", time.Since(stopped))
	b.Do(t, "GET", "/v1/announcements", nil).JSON(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("announcements after maintenance = %+v; want none", list.Data)
	}
}

// TestAnnouncements: the operator publishes a security tip with a window;
// wallets list it only inside the window; a withdrawn one disappears.
func TestAnnouncements(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	op := []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
	now := time.Now().UTC()
	r := env.Do(t, "POST", "/v1/admin/announcements", map[string]any{"kind": "security_tip", "title": "We never ask for your PIN",
		"body": "No one from the bank will ever ask for it.", "ends_at": now.Add(time.Hour)}, op...)
	if r.Status != http.StatusCreated {
		t.Fatalf("announce = %d %s", r.Status, r.Body)
	}
	var tip notice.Announcement
	r.JSON(t, &tip)
	env.Do(t, "POST", "/v1/admin/announcements", map[string]any{"kind": "notice", "title": "New year opening hours", "body": "",
		"starts_at": now.Add(2 * time.Hour)}, op...)
	if r := env.Do(t, "POST", "/v1/admin/announcements", map[string]any{"kind": "rumour", "title": "x", "body": ""}, op...); r.Code() != "invalid" {
		t.Errorf("an unknown kind = %d %s; want invalid", r.Status, r.Body)
	}
	var list struct {
		Data []notice.Announcement `json:"data"`
	}
	env.Do(t, "GET", "/v1/announcements", nil).JSON(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != tip.ID {
		t.Errorf("active announcements = %+v; want the tip alone", list.Data)
	}
	env.Do(t, "GET", "/v1/admin/announcements", nil, op...).JSON(t, &list)
	if len(list.Data) != 2 {
		t.Errorf("every announcement = %+v; want 2", list.Data)
	}
	if r := env.Do(t, "DELETE", "/v1/admin/announcements/"+tip.ID, nil, op...); r.Status != http.StatusOK {
		t.Fatalf("withdraw = %d %s", r.Status, r.Body)
	}
	env.Do(t, "GET", "/v1/announcements", nil).JSON(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("active announcements after the withdrawal = %+v; want none", list.Data)
	}
}
