package merchant

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// blockedNets are where a webhook may never be delivered, whatever its
// URL's host name resolves to: the gateway's own machine and networks,
// link-local (cloud metadata services live at 169.254.169.254), shared
// and unspecified addresses. Without this, a merchant could aim its
// webhook at the gateway's internal ports and read the answers' status
// codes in its delivery log.
var blockedNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// webhookAddrAllowed reports whether a webhook may be delivered to ip:
// a public address, or one inside allow (a development setting).
func webhookAddrAllowed(ip netip.Addr, allow []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	for _, p := range blockedNets {
		if p.Contains(ip) {
			return false
		}
	}
	return ip.IsValid()
}

var errAddrNotAllowed = errors.New("the webhook address is not allowed")

// WebhookClient is the egress-guarded client of merchants' webhooks, for
// other deliveries to addresses the operator configures (risk alerts).
func WebhookClient(timeout time.Duration, allow []netip.Prefix) *http.Client {
	return webhookClient(timeout, allow)
}

// webhookClient is the HTTP client webhooks are delivered with. It checks
// every address it connects to, after DNS resolution (so a host name that
// resolves to an internal address is refused too), and it never follows a
// redirect: a 3xx is the endpoint's answer, and a failed delivery.
func webhookClient(timeout time.Duration, allow []netip.Prefix) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !webhookAddrAllowed(ap.Addr(), allow) {
			return fmt.Errorf("%w: %s", errAddrNotAllowed, address)
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
