package gateway

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientAddr is the address a request's sign-in attempts are counted by.
// It is the peer's address, unless the peer is a trusted proxy
// (Config.TrustedProxies): then X-Forwarded-For is read from the right,
// each proxy having appended the address it saw, and the first address
// that is not a trusted proxy is the client's. The left of the header is
// whatever the client wrote, so it is never believed. An IPv6 client is
// its /64, as one host is usually given a whole /64 to pick from.
func (s *Server) clientAddr(c *fiber.Ctx) string {
	addr, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	addr = addr.Unmap()
	if s.trustedProxy(addr) {
		hops := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = hop.Unmap()
			if !s.trustedProxy(addr) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func (s *Server) trustedProxy(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
