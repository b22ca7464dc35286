package merchant

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestWebhookAddressRules(t *testing.T) {
	dev := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tt := range []struct {
		ip    string
		allow []netip.Prefix
		ok    bool
	}{
		{"93.184.216.34", nil, true},
		{"2606:2800:220:1::1", nil, true},
		{"127.0.0.1", nil, false},
		{"::1", nil, false},
		{"10.1.2.3", nil, false},
		{"172.16.0.9", nil, false},
		{"192.168.1.1", nil, false},
		{"169.254.169.254", nil, false}, // cloud metadata
		{"fe80::1", nil, false},
		{"fd00::1", nil, false},
		{"0.0.0.0", nil, false},
		{"100.64.0.1", nil, false}, // carrier-grade NAT
		{"::ffff:127.0.0.1", nil, false},
		{"224.0.0.1", nil, false},
		{"127.0.0.1", dev, true},
		{"10.1.2.3", dev, false},
	} {
		if got := webhookAddrAllowed(netip.MustParseAddr(tt.ip), tt.allow); got != tt.ok {
			t.Errorf("webhookAddrAllowed(%s, %v) = %v; want %v", tt.ip, tt.allow, got, tt.ok)
		}
	}
}

// TestWebhookClientRefusesInternalAndRedirects: the delivery client
// checks the address it connects to (after DNS), so a webhook URL cannot
// reach the gateway's own network, and it never follows a redirect.
func TestWebhookClientRefusesInternalAndRedirects(t *testing.T) {
	hit := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- r.URL.Path
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	closed := webhookClient(2*time.Second, nil)
	if _, err := closed.Post("http://localhost:"+port+"/hook", "application/json", nil); err == nil ||
		!strings.Contains(err.Error(), "not allowed") {
		t.Errorf("delivery to localhost = %v; want it refused", err)
	}
	select {
	case p := <-hit:
		t.Errorf("the internal endpoint was reached (%s)", p)
	default:
	}

	dev := webhookClient(2*time.Second, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	resp, err := dev.Post(srv.URL+"/hook", "application/json", nil)
	if err != nil {
		t.Fatalf("delivery to an allowed address: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("a redirecting endpoint answered %d to the client; want 302, not followed", resp.StatusCode)
	}
	if p := <-hit; p != "/hook" {
		t.Errorf("first request to %s", p)
	}
	select {
	case p := <-hit:
		t.Errorf("the redirect was followed to %s", p)
	default:
	}
}
