package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/web"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/payment"
)

type createOrderRequest struct {
	MerchantOrderNo string `json:"merchant_order_no" example:"POS1-000123" doc:"Your order number: 1 to 64 characters, unique per merchant."`
	Amount          int64  `json:"amount" example:"1200" doc:"Minor units: 1200 is 12.00 CNY."`
	Currency        string `json:"currency,omitempty" example:"CNY" doc:"Defaults to the merchant's currency."`
	Description     string `json:"description,omitempty" example:"2 coffees"`
	TerminalID      string `json:"terminal_id,omitempty" example:"POS1"`
	ExpiresIn       int    `json:"expires_in,omitempty" example:"900" doc:"Seconds until the order expires: 60 to 86400, default 900."`
}

type createRefundRequest struct {
	RefundNo string `json:"refund_no" example:"R-000123-1" doc:"Your refund number, unique per order: repeating it returns the same refund."`
	Amount   int64  `json:"amount" example:"500"`
	Reason   string `json:"reason,omitempty" example:"one coffee spilt"`
}

type rotateWebhookSecretRequest struct {
	GraceSeconds *int `json:"grace_seconds,omitempty" example:"86400" doc:"How long the previous secret keeps signing beside the new one: 0 (retire it at once, after a leak) to 604800; default 86400."`
}

// createdOrder is a new order with the link of its checkout display.
type createdOrder struct {
	merchant.Order
	DisplayURL string `json:"display_url" example:"/pay/display/AZOhsnw9fk-KmwwdLj9KW2kAAAAAZ0x8wzX1XwqUXnmh3yZpP8fS7uE" doc:"The checkout display page, relative to the gateway: amount, QR code and a countdown, turning to Paid the moment the payment commits. Unguessable and bound to this order; it shows the order while it is open and stops working a minute after the order's expiry."`
}

type refundList struct {
	Data []merchant.Refund `json:"data"`
}

func (s *Server) merchantRoutes() {
	const tag = "merchant"
	pos := merchant.ScopePOS
	orderID := []Param{{Name: "id", Doc: "The order id."}}
	s.handle(Op{Method: "GET", Path: "/v1/merchant", Tag: tag, Auth: Merchant, Summary: "Read the calling merchant, with its static QR",
		Response: merchant.Merchant{}}, s.getSelf)
	s.handle(Op{Method: "POST", Path: "/v1/orders", Tag: tag, Auth: Merchant, Scope: pos, Idempotent: true,
		Summary: "Create an order and its dynamic QR payload", Request: createOrderRequest{}, Response: createdOrder{},
		Status: http.StatusCreated, Errors: []errs.Code{errs.Conflict, errs.MerchantSuspended, errs.Forbidden}}, s.createOrder)
	s.handle(Op{Method: "GET", Path: "/v1/orders", Tag: tag, Auth: Merchant, Scope: pos, Summary: "List orders, newest first, with the totals of the filter",
		Response: merchant.OrderPage{}, Params: []Param{
			{Name: "limit", In: "query", Type: "integer", Doc: "1 to 100, default 20."},
			{Name: "starting_after", In: "query", Doc: "The next_cursor of the previous page."},
			{Name: "status", In: "query", Doc: "Only orders in this status."},
			{Name: "terminal_id", In: "query", Doc: "Only orders created for this terminal."},
			{Name: "from", In: "query", Doc: "RFC 3339 time: only orders created at or after it."},
			{Name: "to", In: "query", Doc: "RFC 3339 time: only orders created before it."}}}, s.listOrders)
	s.handle(Op{Method: "GET", Path: "/v1/orders/by-number/:merchant_order_no", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "Read an order by your order number", Response: merchant.Order{},
		Params: []Param{{Name: "merchant_order_no", Doc: "Your order number."}}, Errors: []errs.Code{errs.NotFound}}, s.getOrderByNumber)
	s.handle(Op{Method: "GET", Path: "/v1/orders/:id", Tag: tag, Auth: Merchant, Scope: pos, Summary: "Read an order",
		Response: merchant.Order{}, Params: orderID, Errors: []errs.Code{errs.NotFound}}, s.getOrder)
	s.handle(Op{Method: "POST", Path: "/v1/orders/:id/close", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "Close an unpaid order so it can never be paid", Response: merchant.Order{}, Params: orderID,
		Errors: []errs.Code{errs.NotFound, errs.Conflict}}, s.closeOrder)
	s.handle(Op{Method: "GET", Path: "/v1/orders/:id/qr.png", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "The order's QR code as a PNG image", Produces: "image/png", Params: append(orderID,
			Param{Name: "size", In: "query", Type: "integer", Doc: "Pixels, 128 to 1024; default 256."}),
		Errors: []errs.Code{errs.NotFound}}, s.orderPNG)
	s.handle(Op{Method: "POST", Path: "/v1/orders/:id/refunds", Tag: tag, Auth: Merchant, Scope: pos, Idempotent: true,
		Summary: "Refund all or part of a paid order", Request: createRefundRequest{}, Response: merchant.Refund{},
		Status: http.StatusCreated, Params: orderID,
		Errors: []errs.Code{errs.NotFound, errs.Conflict, errs.RefundExceedsPayment}}, s.createRefund)
	s.handle(Op{Method: "GET", Path: "/v1/orders/:id/refunds", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "List an order's refunds", Response: refundList{}, Params: orderID, Errors: []errs.Code{errs.NotFound}}, s.listRefunds)
	s.handle(Op{Method: "GET", Path: "/v1/refunds/:id", Tag: tag, Auth: Merchant, Scope: pos, Summary: "Read a refund",
		Response: merchant.Refund{}, Params: []Param{{Name: "id", Doc: "The refund id."}}, Errors: []errs.Code{errs.NotFound}}, s.getRefund)
	s.handle(Op{Method: "GET", Path: "/v1/webhooks/events", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "List webhook events and their deliveries, newest first", Response: merchant.EventPage{}, Params: []Param{
			{Name: "order_id", In: "query", Doc: "Only this order's events."},
			{Name: "limit", In: "query", Type: "integer", Doc: "1 to 100, default 20."},
			{Name: "starting_after", In: "query", Doc: "The next_cursor of the previous page."}}}, s.listEvents)
	s.handle(Op{Method: "GET", Path: "/v1/webhooks/events/:id", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "Read a webhook event with its delivery attempts", Response: merchant.EventDelivery{},
		Params: []Param{{Name: "id", Doc: "The event id."}}, Errors: []errs.Code{errs.NotFound}}, s.getEvent)
	s.handle(Op{Method: "POST", Path: "/v1/webhooks/events/:id/redeliver", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "Deliver a webhook event again now", Response: merchant.EventDelivery{}, Status: http.StatusAccepted,
		Params: []Param{{Name: "id", Doc: "The event id."}}, Errors: []errs.Code{errs.NotFound, errs.Conflict}}, s.redeliver)
	s.handle(Op{Method: "POST", Path: "/v1/webhooks/secret/rotate", Tag: tag, Auth: Merchant, Scope: pos,
		Summary: "Rotate the webhook secret: the new one, shown once; the previous one also signs until the grace ends",
		Request: rotateWebhookSecretRequest{}, OptionalBody: true, Response: merchant.WebhookRotation{}, Status: http.StatusCreated}, s.rotateWebhookSecret)
}

func (s *Server) rotateWebhookSecret(c *fiber.Ctx) error {
	var req rotateWebhookSecretRequest
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	grace := merchant.DefaultWebhookGrace
	if req.GraceSeconds != nil {
		if *req.GraceSeconds < 0 || *req.GraceSeconds > int(merchant.MaxWebhookGrace/time.Second) {
			return errs.E(errs.Invalid, "grace_seconds must be 0 to %d", int(merchant.MaxWebhookGrace/time.Second))
		}
		grace = time.Duration(*req.GraceSeconds) * time.Second
	}
	key := c.Get(headerIdempotencyKey)
	if len(key) > 255 {
		return errs.E(errs.Invalid, "Idempotency-Key must be at most 255 characters")
	}
	r, err := s.deps.Merchant.RotateWebhookSecret(c.UserContext(), callerOf(c).MerchantID, key, grace)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(r)
}

func (s *Server) getSelf(c *fiber.Ctx) error {
	m, err := s.deps.Merchant.Get(c.UserContext(), callerOf(c).MerchantID)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) createOrder(c *fiber.Ctx) error {
	var req createOrderRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.ExpiresIn < 0 || req.ExpiresIn > 1<<30 {
		return errs.E(errs.Invalid, "expires_in is out of range")
	}
	o, err := s.deps.Merchant.CreateOrder(c.UserContext(), callerOf(c), merchant.OrderInput{
		MerchantOrderNo: req.MerchantOrderNo, Amount: req.Amount, Currency: req.Currency,
		Description: req.Description, TerminalID: req.TerminalID, ExpiresIn: time.Duration(req.ExpiresIn) * time.Second})
	if err != nil {
		return err
	}
	token, err := s.deps.Merchant.DisplayToken(o)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(createdOrder{Order: o, DisplayURL: web.DisplayPath(token)})
}

func (s *Server) listOrders(c *fiber.Ctx) error {
	limit, err := queryLimit(c, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	q := merchant.OrderQuery{Status: c.Query("status"), TerminalID: c.Query("terminal_id"), StartingAfter: c.Query("starting_after"), Limit: limit}
	if q.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if q.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	page, err := s.deps.Merchant.ListOrders(c.UserContext(), callerOf(c), q)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) getOrder(c *fiber.Ctx) error {
	o, err := s.deps.Merchant.GetOrder(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(o)
}

func (s *Server) getOrderByNumber(c *fiber.Ctx) error {
	// Order numbers may hold any printable character, so they arrive
	// percent-encoded; the signature covers the raw path, the lookup the text.
	no, err := url.PathUnescape(c.Params("merchant_order_no"))
	if err != nil {
		return errs.E(errs.Invalid, "merchant_order_no is not a valid path segment")
	}
	o, err := s.deps.Merchant.GetOrderByNumber(c.UserContext(), callerOf(c), no)
	if err != nil {
		return err
	}
	return c.JSON(o)
}

func (s *Server) closeOrder(c *fiber.Ctx) error {
	o, err := s.deps.Merchant.CloseOrder(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	s.delivered()
	s.web.OrderChanged(o.ID)
	return c.JSON(o)
}

func (s *Server) orderPNG(c *fiber.Ctx) error {
	size, err := queryInt(c, "size")
	if err != nil {
		return err
	}
	if c.Query("size") == "" {
		size = 256
	}
	if size < 128 || size > 1024 {
		return errs.E(errs.Invalid, "size must be 128 to 1024")
	}
	o, err := s.deps.Merchant.GetOrder(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	if o.QRPayload == "" {
		return errs.E(errs.NotFound, "this order has no QR code")
	}
	png, err := s.deps.PNG.Render(o.QRPayload, size)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "image/png")
	c.Set(fiber.HeaderCacheControl, "private, max-age=86400")
	return c.Send(png)
}

func (s *Server) createRefund(c *fiber.Ctx) error {
	var req createRefundRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Payment.Refund(c.UserContext(), callerOf(c), c.Params("id"), payment.RefundInput{
		RefundNo: req.RefundNo, Amount: req.Amount, Reason: req.Reason})
	if err != nil {
		return err
	}
	s.delivered()
	return c.Status(http.StatusCreated).JSON(r)
}

func (s *Server) listRefunds(c *fiber.Ctx) error {
	list, err := s.deps.Merchant.Refunds(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(refundList{Data: list})
}

func (s *Server) getRefund(c *fiber.Ctx) error {
	r, err := s.deps.Merchant.GetRefund(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	limit, err := queryLimit(c, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	page, err := s.deps.Merchant.Events(c.UserContext(), callerOf(c), c.Query("order_id"), c.Query("starting_after"), limit)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) getEvent(c *fiber.Ctx) error {
	e, err := s.deps.Merchant.GetEvent(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(e)
}

func (s *Server) redeliver(c *fiber.Ctx) error {
	e, err := s.deps.Merchant.Redeliver(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	s.delivered()
	return c.Status(http.StatusAccepted).JSON(e)
}

// queryInt reads an optional integer query parameter.
func queryInt(c *fiber.Ctx, name string) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errs.E(errs.Invalid, "%s must be an integer", name)
	}
	return n, nil
}

// queryTime reads an optional RFC 3339 time query parameter.
func queryTime(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errs.E(errs.Invalid, "%s must be an RFC 3339 time, like 2026-03-01T08:00:00+08:00", name)
	}
	return t, nil
}
