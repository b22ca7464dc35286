package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/wallet"
)

// streamHeartbeat is how often an idle stream sends a comment line: it
// keeps proxies from closing the connection and finds clients that left.
const streamHeartbeat = 15 * time.Second

func (s *Server) notificationRoutes() {
	const tag = "wallet"
	s.handle(Op{Method: "GET", Path: "/v1/wallet/notifications", Tag: tag, Auth: Session,
		Summary:  "List the wallet's notifications (money movements, sign-ins, card and limit changes, security alerts), newest first",
		Response: wallet.NotificationPage{}, Params: []Param{
			{Name: "starting_after", In: "query", Doc: "The cursor of the previous page (next_cursor)."},
			{Name: "limit", In: "query", Type: "integer", Doc: "1 to 100; default 20."},
		}}, s.listNotifications)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/notifications/stream", Tag: tag, Auth: Session,
		Summary: "Stream the wallet's new notifications as server-sent events (id: the notification id; event: its type; data: the notification as JSON). " +
			"Send Last-Event-ID to resume after an entry; without it the stream starts after the newest.",
		Produces: "text/event-stream", Params: []Param{
			{Name: "Last-Event-ID", In: "header", Doc: "Resume after this notification id."},
		}, Errors: []errs.Code{errs.Invalid}}, s.streamNotifications)
}

func (s *Server) listNotifications(c *fiber.Ctx) error {
	limit, err := queryLimit(c, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	page, err := s.deps.Wallet.Notifications(c.UserContext(), principal(c), c.Query("starting_after"), limit)
	if err != nil {
		return err
	}
	if err := s.deps.Payment.MarkCodeCharges(c.UserContext(), page.Data); err != nil {
		return err
	}
	return c.JSON(page)
}

// streamNotifications sends the wallet's feed as server-sent events. The
// stream reads the feed after the last id it sent whenever this replica
// commits something for the wallet, and every NotificationPoll for what
// other replicas wrote; ids grow in commit order within a wallet, so
// resuming after an id misses nothing. It ends when the client leaves (a
// write fails; idle streams write a heartbeat) or the server shuts down.
func (s *Server) streamNotifications(c *fiber.Ctx) error {
	p := principal(c)
	var last int64
	if v := c.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errs.E(errs.Invalid, "Last-Event-ID must be a notification id")
		}
		last = n
	} else {
		n, err := s.deps.Wallet.LatestNotification(c.UserContext(), p)
		if err != nil {
			return err
		}
		last = n
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set("X-Accel-Buffering", "no") // tell a proxy in front not to hold events back
	ctx := withRequestID(context.Background(), requestID(c))
	wake := s.feed.subscribe(p.AccountID)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.feed.unsubscribe(p.AccountID, wake)
		s.stream(ctx, w, p, last, wake)
	})
	return nil
}

func (s *Server) stream(ctx context.Context, w *bufio.Writer, p wallet.Principal, last int64, wake chan struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	poll := time.NewTicker(s.cfg.NotificationPoll)
	defer poll.Stop()
	idle := time.Now()
	if _, err := fmt.Fprintf(w, "retry: 2000\n\n"); err != nil || w.Flush() != nil {
		return
	}
	for {
		list, err := s.deps.Wallet.NotificationsSince(ctx, p, last, 100)
		if err == nil {
			err = s.deps.Payment.MarkCodeCharges(ctx, list)
		}
		if err != nil {
			// Sent as they are read again at the next wake or poll.
			s.log.WarnContext(ctx, "notification stream: reading the feed failed", "err", err)
			list = nil
		}
		for _, n := range list {
			data, err := json.Marshal(n)
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", n.ID, n.Type, data); err != nil {
				return
			}
			last = n.ID
		}
		if len(list) > 0 {
			if w.Flush() != nil {
				return
			}
			idle = time.Now()
			if len(list) == 100 {
				continue // more are waiting
			}
		}
		if time.Since(idle) >= streamHeartbeat {
			if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
				return
			}
			idle = time.Now()
		}
		select {
		case <-s.closing:
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// feedHub wakes the streams of an account when this replica has written
// to its feed.
type feedHub struct {
	mu   sync.Mutex
	subs map[int64]map[chan struct{}]struct{}
}

func (h *feedHub) subscribe(account int64) chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int64]map[chan struct{}]struct{}{}
	}
	if h.subs[account] == nil {
		h.subs[account] = map[chan struct{}]struct{}{}
	}
	h.subs[account][ch] = struct{}{}
	return ch
}

func (h *feedHub) unsubscribe(account int64, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[account], ch)
	if len(h.subs[account]) == 0 {
		delete(h.subs, account)
	}
}

// poke wakes every stream of account.
func (h *feedHub) poke(account int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[account] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
