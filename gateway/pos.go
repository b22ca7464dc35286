package gateway

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
)

// posRoutes are what a POS needs at the end of a shift, and the receipts
// of a payment on both sides of it.
func (s *Server) posRoutes() {
	s.handle(Op{Method: "GET", Path: "/v1/terminals/:terminal_id/summary", Tag: "merchant", Auth: Merchant, Scope: merchant.ScopePOS,
		Summary:  "A terminal's shift: payments, refunds, fees and net in a period, by way of paying (from the ledger)",
		Response: merchant.ShiftSummary{}, Params: []Param{
			{Name: "terminal_id", Doc: "The terminal_id its orders were created with."},
			{Name: "from", In: "query", Doc: "RFC 3339 time, inclusive; default a day before to."},
			{Name: "to", In: "query", Doc: "RFC 3339 time, exclusive; default now. At most 31 days after from."}},
		Errors: []errs.Code{errs.NotFound}}, s.shiftSummary)
	s.handle(Op{Method: "GET", Path: "/v1/orders/:id/receipt", Tag: "merchant", Auth: Merchant, Scope: merchant.ScopePOS,
		Summary: "The receipt of a paid order, with the fee and refunds", Response: merchant.Receipt{},
		Params: []Param{{Name: "id", Doc: "The order id."}}, Errors: []errs.Code{errs.NotFound, errs.Conflict}}, s.orderReceipt)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/payments/:id/receipt", Tag: "wallet", Auth: Session,
		Summary: "The receipt of one of the wallet's payments, with its refunds", Response: merchant.Receipt{},
		Params: []Param{{Name: "id", Doc: "The payment's id in the wallet's history."}}, Errors: []errs.Code{errs.NotFound}}, s.paymentReceipt)
}

func (s *Server) shiftSummary(c *fiber.Ctx) error {
	from, err := queryTime(c, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(c, "to")
	if err != nil {
		return err
	}
	// Terminal ids may hold any printable character, so they arrive
	// percent-encoded, as order numbers do.
	terminal, err := url.PathUnescape(c.Params("terminal_id"))
	if err != nil {
		return errs.E(errs.Invalid, "terminal_id is not a valid path segment")
	}
	sum, err := s.deps.Merchant.ShiftSummary(c.UserContext(), callerOf(c), terminal, from, to)
	if err != nil {
		return err
	}
	return c.JSON(sum)
}

func (s *Server) orderReceipt(c *fiber.Ctx) error {
	r, err := s.deps.Merchant.Receipt(c.UserContext(), callerOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) paymentReceipt(c *fiber.Ctx) error {
	r, err := s.deps.Payment.Receipt(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}
