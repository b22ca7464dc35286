package gateway

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

type scanRequest struct {
	QRPayload string `json:"qr_payload" example:"00020101021226890009COM.QRPAY…6304ABCD" doc:"The scanned string."`
}

type payRequest struct {
	QRPayload string           `json:"qr_payload,omitempty" example:"00020101021226890009COM.QRPAY…6304ABCD" doc:"The scanned string; or give order_id."`
	OrderID   string           `json:"order_id,omitempty" example:"" doc:"The order to pay; or give qr_payload."`
	CardID    string           `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"The card whose limits the payment uses."`
	PIN       string           `json:"pin,omitempty" example:"135790" doc:"Required above PIN_THRESHOLD, and whenever the risk checks asked for a step-up (step_up_required)."`
	Amount    int64            `json:"amount,omitempty" example:"0" doc:"Required for a static QR; for an order, omit it or give the order's amount."`
	Approval  *wallet.Approval `json:"approval,omitempty" doc:"A registered device's signature over a challenge made for this payment (POST /v1/wallet/approvals), instead of the PIN."`
	Funding   string           `json:"funding,omitempty" example:"balance" enum:"balance,card,balance_then_card" doc:"Where the money comes from: the wallet's balance (the default), the card (charged through its issuer; the balance is not touched), or the balance first and the card for the rest."`
}

func (s *Server) payRoutes() {
	const tag = "wallet"
	s.handle(Op{Method: "POST", Path: "/v1/wallet/scan", Tag: tag, Auth: Session,
		Summary: "Read a scanned QR: who is paid, how much, until when", Request: scanRequest{}, Response: payment.ScanResult{},
		Errors: []errs.Code{errs.QRInvalid, errs.NotFound, errs.OrderAlreadyPaid, errs.OrderClosed, errs.OrderExpired, errs.MerchantSuspended}}, s.scan)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/payments", Tag: tag, Auth: Session, Idempotent: true,
		Summary: "Pay a scanned QR (or an order) from the wallet's balance or a bound card", Request: payRequest{}, Response: wallet.Movement{},
		Status: http.StatusCreated, Errors: []errs.Code{errs.QRInvalid, errs.NotFound, errs.OrderAlreadyPaid, errs.OrderClosed,
			errs.OrderExpired, errs.MerchantSuspended, errs.InsufficientFunds, errs.LimitExceeded, errs.CardFrozen, errs.CardDeclined,
			errs.PINRequired, errs.PINInvalid, errs.Locked, errs.RateLimited, errs.WalletClosed, errs.WalletFrozen, errs.ApprovalInvalid,
			errs.StepUpRequired, errs.RiskDeclined}}, s.pay)
}

func (s *Server) scan(c *fiber.Ctx) error {
	var req scanRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Payment.Scan(c.UserContext(), req.QRPayload)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) pay(c *fiber.Ctx) error {
	var req payRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	// An order is paid with its own amount when "amount" is omitted; a
	// given amount must be positive (JSON null and 0 are not "omitted").
	if given, null := fieldGiven(c.Body(), "amount"); given && (null || req.Amount <= 0) {
		return errs.E(errs.Invalid, "amount must be a positive number of minor units; omit it to pay an order's own amount")
	}
	funding, err := wallet.ParseFunding(req.Funding)
	if err != nil {
		return err
	}
	mv, err := s.deps.Payment.Pay(c.UserContext(), principal(c), payment.PayInput{
		QRPayload: req.QRPayload, OrderID: req.OrderID, CardID: req.CardID, PIN: req.PIN, Amount: req.Amount, Approval: req.Approval,
		Funding: funding,
	}, s.walletRequest(c))
	if err != nil {
		return err
	}
	s.delivered()
	s.feed.poke(principal(c).AccountID)
	if mv.OrderID != "" {
		s.web.OrderChanged(mv.OrderID) // its checkout display turns to Paid now
	}
	if mv.Replayed {
		c.Set(headerReplayed, "true") // answered from the ledger: its Redis record was gone
	}
	return c.Status(http.StatusCreated).JSON(mv)
}
