package gateway

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

type unfreezeRequest struct {
	PIN      string      `json:"pin,omitempty" example:"135790" doc:"The payment PIN."`
	Password string      `json:"password,omitempty" example:"" doc:"The sign-in password, for a wallet that never set a PIN."`
	OTP      *wallet.OTP `json:"otp,omitempty" doc:"Unfreezing needs a one-time code: without it the answer is otp_required."`
}

type transferLimitsRequest struct {
	PerTransaction *int64      `json:"per_transaction,omitempty" example:"100000"`
	DailyAmount    *int64      `json:"daily_amount,omitempty" example:"500000"`
	OTP            *wallet.OTP `json:"otp,omitempty" doc:"Raising either limit needs a one-time code; lowering needs none."`
}

type passwordRequest struct {
	OldPassword string      `json:"old_password" example:"correct horse battery"`
	NewPassword string      `json:"new_password" example:"a new and better passphrase" doc:"8 to 128 characters."`
	OTP         *wallet.OTP `json:"otp,omitempty" doc:"Changing the password needs a one-time code: without it the answer is otp_required."`
}

type deviceKeyRequest struct {
	DeviceID  string      `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B"`
	PublicKey string      `json:"public_key" example:"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…" doc:"The device's ECDSA P-256 public key: base64 (standard alphabet, padded) of its DER SubjectPublicKeyInfo."`
	Name      string      `json:"name,omitempty" example:"Li Lei's iPhone" doc:"At most 64 characters."`
	OTP       *wallet.OTP `json:"otp,omitempty" doc:"Registering a key needs a one-time code bound to the device and the key."`
}

type deviceList struct {
	Data []wallet.Device `json:"data"`
}

type approvalRequest struct {
	DeviceID       string `json:"device_id" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B" doc:"The device that will sign: it must have a registered key."`
	Kind           string `json:"kind" example:"payment" enum:"payment,transfer"`
	IdempotencyKey string `json:"idempotency_key" example:"pay-0001" doc:"The Idempotency-Key the payment or transfer will carry."`
	Amount         int64  `json:"amount,omitempty" example:"1200" doc:"Required for a transfer and a static QR; for an order, omit it or give the order's amount."`
	QRPayload      string `json:"qr_payload,omitempty" example:"" doc:"A payment: the scanned string; or give order_id."`
	OrderID        string `json:"order_id,omitempty" example:"" doc:"A payment: the order to pay."`
	ToPhone        string `json:"to_phone,omitempty" example:"" doc:"A transfer: the recipient's phone; or give to_wallet_id."`
	ToWalletID     string `json:"to_wallet_id,omitempty" example:"" doc:"A transfer: the recipient's wallet id."`
}

func (s *Server) securityRoutes() {
	const tag = "wallet"
	otpCodes := []errs.Code{errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.RateLimited}
	with := func(codes ...errs.Code) []errs.Code { return append(append([]errs.Code{}, otpCodes...), codes...) }
	s.handle(Op{Method: "POST", Path: "/v1/wallet/freeze", Tag: tag, Auth: Session,
		Summary:  "Freeze the wallet (a lost phone): payments, transfers out, top-ups and new sign-ins stop",
		Response: wallet.Wallet{}}, s.freezeWallet)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/unfreeze", Tag: tag, Auth: Session,
		Summary: "Unfreeze the wallet: the PIN (or the password when no PIN is set) and a one-time code",
		Request: unfreezeRequest{}, Response: wallet.Wallet{},
		Errors: with(errs.PINRequired, errs.PINInvalid, errs.Locked, errs.Unauthorized, errs.Forbidden, errs.WalletClosed)}, s.unfreezeWallet)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/transfer-limits", Tag: tag, Auth: Session,
		Summary: "Read the wallet's transfer limits and today's usage", Response: wallet.TransferLimitsView{}}, s.getTransferLimits)
	s.handle(Op{Method: "PATCH", Path: "/v1/wallet/transfer-limits", Tag: tag, Auth: Session,
		Summary: "Change the wallet's transfer limits (raising needs a one-time code)",
		Request: transferLimitsRequest{}, Response: wallet.TransferLimitsView{}, Errors: with(errs.WalletClosed)}, s.setTransferLimits)
	s.handle(Op{Method: "PUT", Path: "/v1/wallet/password", Tag: tag, Auth: Session,
		Summary: "Change the sign-in password (old password and a one-time code); every other session is logged out",
		Request: passwordRequest{}, Status: http.StatusNoContent,
		Errors: with(errs.Unauthorized, errs.Locked, errs.WalletClosed)}, s.changePassword)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/devices", Tag: tag, Auth: Session,
		Summary: "List the devices the wallet has signed in from", Response: deviceList{}}, s.listDevices)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/devices", Tag: tag, Auth: Session,
		Summary: "Register a device's approval key (ECDSA P-256), after a one-time code",
		Request: deviceKeyRequest{}, Response: wallet.Device{}, Status: http.StatusCreated,
		Errors: with(errs.WalletClosed, errs.WalletFrozen)}, s.registerDevice)
	s.handle(Op{Method: "DELETE", Path: "/v1/wallet/devices/:device_id", Tag: tag, Auth: Session,
		Summary: "Revoke a device: its key approves nothing more, and signing in from it needs a code again",
		Status:  http.StatusNoContent, Params: []Param{{Name: "device_id", Doc: "The device's id."}},
		Errors: []errs.Code{errs.NotFound}}, s.revokeDevice)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/approvals", Tag: tag, Auth: Session,
		Summary: "Get a challenge for a device to sign, approving one payment or transfer instead of the PIN",
		Request: approvalRequest{}, Response: wallet.ApprovalChallenge{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.NotFound, errs.QRInvalid, errs.OrderAlreadyPaid, errs.OrderClosed, errs.OrderExpired,
			errs.MerchantSuspended, errs.WalletClosed}}, s.newApproval)

	s.handle(Op{Method: "POST", Path: "/v1/admin/wallets/:id/freeze", Tag: "admin", Auth: Operator,
		Summary: "Freeze a wallet for the operator: its owner cannot unfreeze it", Response: wallet.Wallet{},
		Params: []Param{{Name: "id", Doc: "The wallet's id."}}, Errors: []errs.Code{errs.NotFound}}, s.operatorFreeze(true))
	s.handle(Op{Method: "POST", Path: "/v1/admin/wallets/:id/unfreeze", Tag: "admin", Auth: Operator,
		Summary: "Lift any freeze of a wallet", Response: wallet.Wallet{},
		Params: []Param{{Name: "id", Doc: "The wallet's id."}}, Errors: []errs.Code{errs.NotFound}}, s.operatorFreeze(false))
	s.handle(Op{Method: "GET", Path: "/v1/admin/otp/:challenge_id", Tag: "admin", Auth: Operator,
		Summary:  "Read a one-time code sent (only with OTP_DELIVERY=outbox: development and load tests)",
		Response: otp.Message{}, Params: []Param{{Name: "challenge_id", Doc: "The challenge of an otp_required answer."}},
		Errors: []errs.Code{errs.NotFound}}, s.readCode)
}

func (s *Server) freezeWallet(c *fiber.Ctx) error {
	w, err := s.deps.Wallet.Freeze(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) unfreezeWallet(c *fiber.Ctx) error {
	var req unfreezeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	w, err := s.deps.Wallet.Unfreeze(c.UserContext(), principal(c), wallet.UnfreezeInput{PIN: req.PIN, Password: req.Password, OTP: req.OTP})
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) getTransferLimits(c *fiber.Ctx) error {
	v, err := s.deps.Wallet.TransferLimits(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) setTransferLimits(c *fiber.Ctx) error {
	var req transferLimitsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.deps.Wallet.SetTransferLimits(c.UserContext(), principal(c), wallet.TransferLimitsChange{
		PerTransaction: req.PerTransaction, DailyAmount: req.DailyAmount, OTP: req.OTP})
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	var req passwordRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.Wallet.ChangePassword(c.UserContext(), principal(c), req.OldPassword, req.NewPassword, req.OTP); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) listDevices(c *fiber.Ctx) error {
	list, err := s.deps.Wallet.Devices(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(deviceList{Data: list})
}

func (s *Server) registerDevice(c *fiber.Ctx) error {
	var req deviceKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	d, err := s.deps.Wallet.RegisterDeviceKey(c.UserContext(), principal(c), wallet.DeviceKeyInput{
		DeviceID: req.DeviceID, PublicKey: req.PublicKey, Name: req.Name, OTP: req.OTP})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(d)
}

func (s *Server) revokeDevice(c *fiber.Ctx) error {
	if err := s.deps.Wallet.RevokeDevice(c.UserContext(), principal(c), c.Params("device_id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) newApproval(c *fiber.Ctx) error {
	var req approvalRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := principal(c)
	var ch wallet.ApprovalChallenge
	var err error
	// A field of the other kind would be silently ignored, and the device
	// asked to approve something other than what the caller described.
	switch {
	case req.Kind == "payment" && (req.ToPhone != "" || req.ToWalletID != ""):
		return errs.E(errs.Invalid, "a payment approval takes no to_phone or to_wallet_id")
	case req.Kind == "transfer" && (req.QRPayload != "" || req.OrderID != ""):
		return errs.E(errs.Invalid, "a transfer approval takes no qr_payload or order_id")
	}
	switch req.Kind {
	case "payment":
		ch, err = s.deps.Payment.Approve(c.UserContext(), p, payment.ApproveInput{QRPayload: req.QRPayload, OrderID: req.OrderID,
			Amount: req.Amount, DeviceID: req.DeviceID, IdempotencyKey: req.IdempotencyKey})
	case "transfer":
		ch, err = s.deps.Wallet.TransferApproval(c.UserContext(), p, wallet.TransferApprovalInput{ToPhone: req.ToPhone,
			ToWalletID: req.ToWalletID, Amount: req.Amount, DeviceID: req.DeviceID, IdempotencyKey: req.IdempotencyKey})
	default:
		return errs.E(errs.Invalid, "kind must be payment or transfer")
	}
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(ch)
}

func (s *Server) operatorFreeze(frozen bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		w, err := s.deps.Wallet.SetFrozenByOperator(c.UserContext(), c.Params("id"), frozen)
		if err != nil {
			return err
		}
		return c.JSON(w)
	}
}

func (s *Server) readCode(c *fiber.Ctx) error {
	if s.deps.Outbox == nil {
		return errs.E(errs.NotFound, "codes are not kept here (OTP_DELIVERY is not outbox)")
	}
	m, err := s.deps.Outbox.Get(c.UserContext(), c.Params("challenge_id"))
	if err != nil {
		return err
	}
	return c.JSON(m)
}
