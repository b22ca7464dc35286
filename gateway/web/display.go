package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/money"
)

// displayHeartbeat is how often an idle display stream writes a comment:
// proxies keep the connection and a display that left is noticed.
const displayHeartbeat = 15 * time.Second

func (p *Pages) displayRoutes(app *fiber.App) {
	app.Get("/pay/display/:token", p.displayPage)
	app.Get("/pay/display/:token/qr.png", p.displayQR)
	app.Get("/pay/display/:token/events", p.displayEvents)
}

// display reads the order of the request's token; a link that is unknown
// or past its life answers 404, and (unless ended is allowed) one whose
// order has ended answers 410: the page and the QR code show an order only
// while it can be paid.
func (p *Pages) display(c *fiber.Ctx, allowEnded bool) (merchant.Display, bool, error) {
	d, err := p.d.Merchant.Display(c.UserContext(), c.Params("token"))
	var e *errs.Error
	switch {
	case errors.As(err, &e) && e.Code == errs.NotFound:
		return d, false, p.errorPage(c, http.StatusNotFound, "error_display_unknown")
	case err != nil:
		p.d.Logger.ErrorContext(c.UserContext(), "display: reading the order failed", "err", err)
		return d, false, p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	case !d.Open() && !allowEnded:
		return d, false, p.errorPage(c, http.StatusGone, "error_display_ended")
	}
	return d, true, nil
}

type displayView struct {
	MerchantName, Amount, Currency string
	ExpiresAt                      string // RFC 3339, for the countdown
	QR, Events                     string
}

func (p *Pages) displayPage(c *fiber.Ctx) error {
	d, ok, err := p.display(c, false)
	if !ok {
		return err
	}
	base := DisplayPath(c.Params("token"))
	return p.render(c, http.StatusOK, "display", "display_title", "display.js", displayView{
		MerchantName: d.MerchantName, Amount: formatMoney(d.Amount, d.Currency), Currency: d.Currency,
		ExpiresAt: d.ExpiresAt.UTC().Format(time.RFC3339), QR: base + "/qr.png", Events: base + "/events"})
}

func (p *Pages) displayQR(c *fiber.Ctx) error {
	d, ok, err := p.display(c, false)
	if !ok {
		return err
	}
	png, err := p.d.PNG.Render(d.QRPayload, 384)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "image/png")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(png)
}

// displayStatus is one event of a display stream.
type displayStatus struct {
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
}

// displayEvents streams the order's state as server-sent events ("status",
// data {"status", "expires_at"}): once at the start, then at every change,
// ending after the order has ended. A payment through this replica wakes
// the stream at once; changes through others are read every Deps.Poll.
// While the link lives it answers even after the order ended, with the
// outcome only, so a display that reconnects learns it.
func (p *Pages) displayEvents(c *fiber.Ctx) error {
	d, ok, err := p.display(c, true)
	if !ok {
		return err
	}
	token := c.Params("token")
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	wake := p.hub.subscribe(d.OrderID)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer p.hub.unsubscribe(d.OrderID, wake)
		p.streamDisplay(w, token, d, wake)
	})
	return nil
}

func (p *Pages) streamDisplay(w *bufio.Writer, token string, d merchant.Display, wake chan struct{}) {
	poll := time.NewTicker(p.d.Poll)
	defer poll.Stop()
	if _, err := w.WriteString("retry: 2000\n\n"); err != nil {
		return
	}
	sent, idle := "", time.Now()
	for {
		if d.Status != sent {
			data, err := json.Marshal(displayStatus{Status: d.Status, ExpiresAt: d.ExpiresAt})
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", data); err != nil || w.Flush() != nil {
				return
			}
			sent, idle = d.Status, time.Now()
			if !d.Open() {
				return
			}
		}
		if time.Since(idle) >= displayHeartbeat {
			if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
				return
			}
			idle = time.Now()
		}
		select {
		case <-p.d.Closing:
			return
		case <-wake:
		case <-poll.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		next, err := p.d.Merchant.Display(ctx, token)
		cancel()
		var e *errs.Error
		switch {
		case errors.As(err, &e) && e.Code == errs.NotFound:
			return // the link's life is over
		case err != nil:
			p.d.Logger.Warn("display stream: reading the order failed", "err", err)
		default:
			d = next
		}
	}
}

// formatMoney writes an amount for people: ¥12.00 for CNY, else 12.00 XXX.
func formatMoney(minor int64, currency string) string {
	if currency == "CNY" {
		return "¥" + money.Format(minor, currency)
	}
	return money.Format(minor, currency) + " " + currency
}
