package web_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/gateway/web"
)

// displayOrder creates an order through the merchant API and returns it
// with its display link.
func displayOrder(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, amount int64, desc string) (id, payload, link string) {
	t.Helper()
	no := fmt.Sprintf("D-%d", time.Now().UnixNano())
	r := env.Signed(t, k, "POST", "/v1/orders", map[string]any{"merchant_order_no": no, "amount": amount,
		"description": desc}, "Idempotency-Key", no)
	if r.Status != http.StatusCreated {
		t.Fatalf("create order = %d %s", r.Status, r.Body)
	}
	var o struct {
		ID         string `json:"id"`
		QRPayload  string `json:"qr_payload"`
		DisplayURL string `json:"display_url"`
	}
	r.JSON(t, &o)
	if !strings.HasPrefix(o.DisplayURL, "/pay/display/") || len(o.DisplayURL) < len("/pay/display/")+40 {
		t.Fatalf("display_url = %q; want /pay/display/ and an unguessable token", o.DisplayURL)
	}
	return o.ID, o.QRPayload, o.DisplayURL
}

func checkCSP(t *testing.T, what string, r gatewaytest.Response) {
	t.Helper()
	if got := r.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
		t.Errorf("%s: Content-Security-Policy = %q; want %q", what, got, web.ContentSecurityPolicy)
	}
}

// TestDisplayLink: the link shows its order (and nothing of it but the
// merchant, the amount, the QR and the expiry) while the order is open,
// streams its state, and stops working once the order has ended.
func TestDisplayLink(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"name": "Lantern Noodles"})
	id, payload, link := displayOrder(t, env, k, 4250, "secret recipe no. 7")

	r := env.Do(t, "GET", link, nil)
	checkCSP(t, "display page", r)
	page := string(r.Body)
	if r.Status != 200 || !strings.Contains(page, "Lantern Noodles") || !strings.Contains(page, "¥42.50") ||
		!strings.Contains(page, link+"/qr.png") {
		t.Fatalf("display page = %d %s; want the merchant, ¥42.50 and the QR", r.Status, page)
	}
	for _, secret := range []string{"secret recipe", id, payload, k.MerchantID} {
		if strings.Contains(page, secret) {
			t.Errorf("the display page reveals %q", secret)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") {
		t.Errorf("the display page has inline script or style")
	}
	r = env.Do(t, "GET", link+"/qr.png", nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" || len(r.Body) < 100 {
		t.Fatalf("display QR = %d %s", r.Status, r.Header.Get("Content-Type"))
	}

	// A forged or altered token shows nothing, and says nothing about why.
	token := strings.TrimPrefix(link, "/pay/display/")
	flipped := []byte(token)
	flipped[5] ^= 1
	for _, bad := range []string{"/pay/display/" + string(flipped), "/pay/display/x", link[:len(link)-2] + "AA", link + "A"} {
		if r := env.Do(t, "GET", bad, nil); r.Status != 404 || strings.Contains(string(r.Body), "Lantern") {
			t.Errorf("GET %s = %d; want 404 revealing nothing", bad, r.Status)
		}
		if r := env.Do(t, "GET", bad+"/qr.png", nil); r.Status != 404 {
			t.Errorf("GET %s/qr.png = %d; want 404", bad, r.Status)
		}
	}

	// The stream says "created", then "paid" the moment the payment commits.
	req, err := http.NewRequest("GET", env.URL+link+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 4)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				return "(stream ended)"
			}
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
			return ""
		}
	}
	if e := next(); !strings.Contains(e, `"status":"created"`) {
		t.Fatalf("first event = %s; want created", e)
	}
	p := env.NewPayer(t, 10000)
	env.Pay(t, p, payload)
	if e := next(); !strings.Contains(e, `"status":"paid"`) || strings.Contains(e, "4250") {
		t.Fatalf("event after paying = %s; want paid, and nothing else of the order", e)
	}
	if e := next(); e != "(stream ended)" {
		t.Fatalf("after paid the stream sent %s; want it to end", e)
	}

	// Ended: the page and the QR are gone; the stream tells the outcome only.
	if r := env.Do(t, "GET", link, nil); r.Status != 410 || strings.Contains(string(r.Body), "Lantern") || strings.Contains(string(r.Body), "42.50") {
		t.Errorf("display page after payment = %d; want 410 revealing nothing", r.Status)
	}
	if r := env.Do(t, "GET", link+"/qr.png", nil); r.Status != 410 {
		t.Errorf("display QR after payment = %d; want 410", r.Status)
	}
	if r := env.Do(t, "GET", link+"/events", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"status":"paid"`) {
		t.Errorf("events after payment = %d %s; want paid, then the end", r.Status, r.Body)
	}
	if strings.Contains(env.Logs.String(), token) {
		t.Errorf("the logs hold a display link's token")
	}
	// After the order's expiry (and the link's grace) nothing answers.
	env.Clock.Advance(15*time.Minute + 2*time.Minute)
	for _, path := range []string{link, link + "/qr.png", link + "/events"} {
		if r := env.Do(t, "GET", path, nil); r.Status != 404 {
			t.Errorf("GET %s after the link's life = %d; want 404", path, r.Status)
		}
	}
}

// TestDisplayClosedAndExpired: a closed order's link shows nothing; an
// expired order's stream says expired.
func TestDisplayClosedAndExpired(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	id, _, link := displayOrder(t, env, k, 100, "")
	if r := env.Signed(t, k, "POST", "/v1/orders/"+id+"/close", nil); r.Status != 200 {
		t.Fatalf("close = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "GET", link, nil); r.Status != 410 {
		t.Errorf("closed order's page = %d; want 410", r.Status)
	}
	if r := env.Do(t, "GET", link+"/events", nil); !strings.Contains(string(r.Body), `"status":"closed"`) {
		t.Errorf("closed order's events = %s; want closed", r.Body)
	}

	_, _, link = displayOrder(t, env, k, 100, "")
	env.Clock.Advance(15*time.Minute + time.Second)
	if r := env.Do(t, "GET", link, nil); r.Status != 410 {
		t.Errorf("expired order's page = %d; want 410", r.Status)
	}
	if r := env.Do(t, "GET", link+"/events", nil); !strings.Contains(string(r.Body), `"status":"expired"`) {
		t.Errorf("expired order's events = %s; want expired", r.Body)
	}
}

// TestDisplayAcrossReplicas: a display streaming from one gateway turns
// paid when the payment commits through another.
func TestDisplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	other := env.Replica(t)
	k := env.NewMerchant(t, nil)
	_, payload, link := displayOrder(t, env, k, 990, "")
	resp, err := http.Get(env.URL + link + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 4)
	go func() {
		defer close(got)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				got <- data
			}
		}
	}()
	if e := <-got; !strings.Contains(e, `"created"`) {
		t.Fatalf("first event = %s", e)
	}
	p := other.NewPayer(t, 5000)
	other.Pay(t, p, payload)
	select {
	case e := <-got:
		if !strings.Contains(e, `"paid"`) {
			t.Fatalf("event = %s; want paid", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the display did not learn of a payment through another replica within 5 s")
	}
}
