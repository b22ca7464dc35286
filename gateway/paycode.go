package gateway

import (
	"encoding/base64"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/barcode"
	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

type codeKeyRequest struct {
	DeviceID string `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B" doc:"A device the wallet signed in from."`
	Funding  string `json:"funding,omitempty" example:"balance" enum:"balance,card,balance_then_card" doc:"What the codes pay from: balance (default), card (charged through its issuer, the balance untouched), or balance_then_card (the balance first, the card for the rest)."`
	CardID   string `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"The bound card whose limits the codes' payments use."`
}

func (r codeKeyRequest) input() wallet.PayCodeKeyInput {
	if r.Funding == "" {
		r.Funding = string(wallet.FundingBalance)
	}
	return wallet.PayCodeKeyInput{DeviceID: r.DeviceID, Funding: r.Funding, CardID: r.CardID}
}

// paymentCode is the current code with its renderings.
type paymentCode struct {
	wallet.Code
	QRPNG      string `json:"qr_png" example:"iVBORw0KGgo…" doc:"Base64 of a 256×256 PNG QR code of the code."`
	BarcodePNG string `json:"barcode_png" example:"iVBORw0KGgo…" doc:"Base64 of a PNG Code 128 barcode of the code."`
}

type chargeRequest struct {
	MerchantOrderNo string `json:"merchant_order_no" example:"POS1-000124" doc:"Your order number: 1 to 64 characters, unique per merchant. Repeating the charge with it answers what the first did."`
	Amount          int64  `json:"amount" example:"1200" doc:"Minor units."`
	Currency        string `json:"currency,omitempty" example:"CNY" doc:"Defaults to the merchant's currency."`
	Description     string `json:"description,omitempty" example:"2 coffees"`
	TerminalID      string `json:"terminal_id,omitempty" example:"POS1"`
	Code            string `json:"code" example:"280001042712345678" doc:"The 18 digits scanned from the customer's payment code."`
}

type confirmChargeRequest struct {
	PIN      string           `json:"pin,omitempty" example:"135790" doc:"The payment PIN."`
	Approval *wallet.Approval `json:"approval,omitempty" doc:"A registered device's signature over a challenge for this payment, instead of the PIN."`
}

type pendingChargeList struct {
	Data []payment.PendingCharge `json:"data"`
}

// chargeDeclines are the answers of a charge that was declined.
var chargeDeclines = []errs.Code{errs.PaymentCodeInvalid, errs.PaymentCodeExpired, errs.PaymentCodeUsed, errs.CurrencyMismatch,
	errs.InsufficientFunds, errs.LimitExceeded, errs.CardFrozen, errs.CardDeclined, errs.RiskDeclined,
	errs.WalletClosed, errs.WalletFrozen, errs.RateLimited, errs.OrderClosed, errs.OrderExpired, errs.OrderAlreadyPaid,
	errs.Conflict, errs.MerchantSuspended, errs.Forbidden, errs.NotFound}

func (s *Server) paymentCodeRoutes() {
	const tag = "wallet"
	s.handle(Op{Method: "POST", Path: "/v1/wallet/payment-codes/keys", Tag: tag, Auth: Session,
		Summary: "Give a device a new payment-code seed (shown once) to compute its codes offline; the device's previous seed for that funding stops working",
		Request: codeKeyRequest{}, Response: wallet.PayCodeKey{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.NotFound, errs.CardFrozen, errs.CardDeclined, errs.WalletClosed, errs.WalletFrozen, errs.Conflict}},
		s.newCodeKey)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/payment-codes", Tag: tag, Auth: Session,
		Summary: "The device's current payment code for a funding source, with a QR code and a Code 128 barcode to show the cashier",
		Request: codeKeyRequest{}, Response: paymentCode{},
		Errors: []errs.Code{errs.NotFound, errs.CardFrozen, errs.CardDeclined, errs.WalletClosed, errs.WalletFrozen, errs.Conflict}},
		s.currentCode)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/payment-codes/charges", Tag: tag, Auth: Session,
		Summary:  "List the charges of the wallet's payment codes that wait for its PIN, oldest first",
		Response: pendingChargeList{}}, s.pendingCharges)
	orderID := []Param{{Name: "order_id", Doc: "The charge's order id."}}
	s.handle(Op{Method: "POST", Path: "/v1/wallet/payment-codes/charges/:order_id/confirm", Tag: tag, Auth: Session, Idempotent: true,
		Summary: "Confirm a charge of one of the wallet's payment codes with the PIN: the order is paid", Request: confirmChargeRequest{},
		Response: wallet.Movement{}, Status: http.StatusCreated, Params: orderID,
		Errors: []errs.Code{errs.NotFound, errs.OrderAlreadyPaid, errs.OrderClosed, errs.OrderExpired, errs.MerchantSuspended,
			errs.InsufficientFunds, errs.LimitExceeded, errs.CardFrozen, errs.CardDeclined, errs.PINRequired, errs.PINInvalid, errs.Locked,
			errs.RateLimited, errs.WalletClosed, errs.WalletFrozen, errs.ApprovalInvalid, errs.StepUpRequired, errs.RiskDeclined}},
		s.confirmCharge)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/payment-codes/charges/:order_id/decline", Tag: tag, Auth: Session,
		Summary: "Decline a charge of one of the wallet's payment codes: its order closes, nothing is paid",
		Status:  http.StatusNoContent, Params: orderID, Errors: []errs.Code{errs.NotFound, errs.Conflict}}, s.declineCharge)
	s.handle(Op{Method: "POST", Path: "/v1/orders/charge", Tag: "merchant", Auth: Merchant, Scope: merchant.ScopePOS, Idempotent: true,
		Summary: "Charge the payment code a customer shows: creates the order and pays it (paid), or waits for the customer's PIN " +
			"(requires_confirmation: poll the order); a declined charge answers its error",
		Request: chargeRequest{}, Response: payment.ChargeResult{}, Status: http.StatusCreated, Errors: chargeDeclines}, s.chargeCode)
}

func (s *Server) newCodeKey(c *fiber.Ctx) error {
	var req codeKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	k, err := s.deps.Wallet.NewCodeKey(c.UserContext(), principal(c), req.input())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(http.StatusCreated).JSON(k)
}

func (s *Server) currentCode(c *fiber.Ctx) error {
	var req codeKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	code, err := s.deps.Wallet.CurrentCode(c.UserContext(), principal(c), req.input())
	if err != nil {
		return err
	}
	qr, err := merchant.RenderPNG(code.Code, 256)
	if err != nil {
		return err
	}
	bar, err := barcode.PNG(code.Code, 3, 120)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(paymentCode{Code: code, QRPNG: base64.StdEncoding.EncodeToString(qr),
		BarcodePNG: base64.StdEncoding.EncodeToString(bar)})
}

func (s *Server) pendingCharges(c *fiber.Ctx) error {
	list, err := s.deps.Payment.PendingCharges(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(pendingChargeList{Data: list})
}

func (s *Server) confirmCharge(c *fiber.Ctx) error {
	var req confirmChargeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := principal(c)
	mv, err := s.deps.Payment.ConfirmCharge(c.UserContext(), p, c.Params("order_id"), req.PIN, req.Approval)
	if err != nil {
		return err
	}
	s.delivered()
	s.feed.poke(p.AccountID)
	if mv.Replayed {
		c.Set(headerReplayed, "true")
	}
	return c.Status(http.StatusCreated).JSON(mv)
}

func (s *Server) declineCharge(c *fiber.Ctx) error {
	if err := s.deps.Payment.DeclineCharge(c.UserContext(), principal(c), c.Params("order_id")); err != nil {
		return err
	}
	s.delivered()
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) chargeCode(c *fiber.Ctx) error {
	var req chargeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Payment.Charge(c.UserContext(), callerOf(c), payment.ChargeInput{MerchantOrderNo: req.MerchantOrderNo,
		Amount: req.Amount, Currency: req.Currency, Description: req.Description, TerminalID: req.TerminalID, Code: req.Code})
	if err != nil {
		return err
	}
	s.delivered()
	if a := r.WalletAccount(); a != 0 {
		s.feed.poke(a)
	}
	return c.Status(http.StatusCreated).JSON(r)
}
