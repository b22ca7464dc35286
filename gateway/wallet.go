package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/wallet"
)

const localsPrincipal = "wallet.principal"

// authSession admits a wallet's bearer session token.
func (s *Server) authSession(c *fiber.Ctx) error {
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || token == "" {
		return errs.E(errs.Unauthorized, "a wallet session token is required (Authorization: Bearer …)")
	}
	p, err := s.deps.Wallet.Authenticate(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.Locals(localsPrincipal, p)
	c.Locals(localsScope, p.Scope())
	return c.Next()
}

func principal(c *fiber.Ctx) wallet.Principal {
	p, _ := c.Locals(localsPrincipal).(wallet.Principal)
	return p
}

type registerRequest struct {
	Phone    string      `json:"phone" example:"+8613800138000" doc:"E.164 phone number."`
	Password string      `json:"password" example:"correct horse battery" doc:"8 to 128 characters."`
	DeviceID string      `json:"device_id,omitempty" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B" doc:"The app's id of this device (1 to 128 of A-Z a-z 0-9 . _ : -): signing in from it later needs no code."`
	OTP      *wallet.OTP `json:"otp,omitempty" doc:"The code sent to the phone; without it the answer is otp_required and a code is sent."`
}

type loginRequest struct {
	Phone    string      `json:"phone" example:"+8613800138000"`
	Password string      `json:"password" example:"correct horse battery"`
	DeviceID string      `json:"device_id,omitempty" example:"ios-6F1C2A9E-3B7D-4C1E-9A0B-2F4E6D8C0A1B" doc:"The app's id of this device. A device the wallet has not seen (or none) needs a one-time code."`
	OTP      *wallet.OTP `json:"otp,omitempty" doc:"The code of an otp_required answer to this sign-in."`
}

type sessionCreated struct {
	Token     string    `json:"token" example:"qs_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA" doc:"Bearer token; shown once."`
	SessionID string    `json:"session_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	WalletID  string    `json:"wallet_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"`
	ExpiresAt time.Time `json:"expires_at"`
}

type sessionList struct {
	Data []wallet.Session `json:"data"`
}

type bindCardRequest struct {
	Number     string      `json:"number" example:"4111 1111 1111 1111" doc:"12 to 19 digits; spaces and dashes allowed. Never stored."`
	ExpMonth   int         `json:"exp_month" example:"12"`
	ExpYear    int         `json:"exp_year" example:"2030"`
	HolderName string      `json:"holder_name" example:"Li Lei"`
	OTP        *wallet.OTP `json:"otp,omitempty" doc:"Binding a card needs a one-time code: without it the answer is otp_required."`
}

type cardList struct {
	Data []wallet.Card `json:"data"`
}

type limitsRequest struct {
	PerTransaction *int64      `json:"per_transaction,omitempty" example:"100000"`
	DailyAmount    *int64      `json:"daily_amount,omitempty" example:"500000"`
	DailyCount     *int64      `json:"daily_count,omitempty" example:"20"`
	OTP            *wallet.OTP `json:"otp,omitempty" doc:"Raising any limit needs a one-time code; lowering needs none."`
}

type pinRequest struct {
	PIN    string `json:"pin" example:"135790" doc:"Exactly 6 digits."`
	OldPIN string `json:"old_pin,omitempty" example:"246801" doc:"Required to change a PIN that is set."`
}

type verifyPINRequest struct {
	PIN string `json:"pin" example:"135790"`
}

type topupRequest struct {
	CardID   string `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Amount   int64  `json:"amount" example:"10000" doc:"Minor units (fen): 10000 is 100.00 CNY."`
	Currency string `json:"currency,omitempty" example:"CNY" doc:"Must be the wallet's currency when given."`
	PIN      string `json:"pin,omitempty" example:"135790" doc:"Required above PIN_THRESHOLD, as for a payment, and whenever the risk checks asked for a step-up (step_up_required)."`
}

type transferRequest struct {
	ToPhone    string           `json:"to_phone,omitempty" example:"+8613900000001" doc:"The recipient's phone; or give to_wallet_id."`
	ToWalletID string           `json:"to_wallet_id,omitempty" example:"" doc:"The recipient's wallet id; or give to_phone."`
	Amount     int64            `json:"amount" example:"2500"`
	Currency   string           `json:"currency,omitempty" example:"CNY"`
	Note       string           `json:"note,omitempty" example:"dinner"`
	PIN        string           `json:"pin,omitempty" example:"135790" doc:"Required unless approval is given."`
	Approval   *wallet.Approval `json:"approval,omitempty" doc:"A registered device's signature, instead of the PIN (POST /v1/wallet/approvals)."`
	OTP        *wallet.OTP      `json:"otp,omitempty" doc:"Above OTP_TRANSFER_THRESHOLD a one-time code bound to the amount and recipient is needed: without it the answer is otp_required."`
}

type withdrawRequest struct {
	CardID   string      `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"A bound card that is not frozen: the money goes to it."`
	Amount   int64       `json:"amount" example:"5000" doc:"Minor units."`
	Currency string      `json:"currency,omitempty" example:"CNY" doc:"Must be the wallet's currency when given."`
	PIN      string      `json:"pin,omitempty" example:"135790" doc:"Always required (pin_required without it): money leaves the wallet."`
	OTP      *wallet.OTP `json:"otp,omitempty" doc:"Above OTP_TRANSFER_THRESHOLD a one-time code bound to the card and amount is needed: without it the answer is otp_required."`
}

type closeRequest struct {
	Password string      `json:"password" example:"correct horse battery"`
	OTP      *wallet.OTP `json:"otp,omitempty" doc:"Closing needs a one-time code: without it the answer is otp_required."`
}

func (s *Server) walletRoutes() {
	const tag = "wallet"
	id := []Param{{Name: "id", Doc: "The card's id."}}
	s.handle(Op{Method: "POST", Path: "/v1/wallet/customers", Tag: tag, Summary: "Register a wallet with a phone number and password",
		Request: registerRequest{}, Response: wallet.Wallet{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.Conflict, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.RateLimited}}, s.register)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/sessions", Tag: tag, Summary: "Log in: exchange phone and password for a session token",
		Request: loginRequest{}, Response: sessionCreated{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.Unauthorized, errs.RateLimited, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.WalletFrozen}}, s.login)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/sessions", Tag: tag, Auth: Session, Summary: "List the wallet's live sessions",
		Response: sessionList{}}, s.listSessions)
	s.handle(Op{Method: "DELETE", Path: "/v1/wallet/sessions/:id", Tag: tag, Auth: Session, Summary: "Log out a session (`current` for this one)",
		Status: http.StatusNoContent, Params: []Param{{Name: "id", Doc: "A session id, or `current`."}}, Errors: []errs.Code{errs.NotFound}}, s.revokeSession)
	s.handle(Op{Method: "GET", Path: "/v1/wallet", Tag: tag, Auth: Session, Summary: "Read the wallet and its balance",
		Response: wallet.Wallet{}}, s.getWallet)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/cards", Tag: tag, Auth: Session, Summary: "Bind a bank card",
		Request: bindCardRequest{}, Response: wallet.Card{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.Conflict, errs.CardDeclined, errs.WalletClosed, errs.WalletFrozen, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.RateLimited}}, s.bindCard)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/cards", Tag: tag, Auth: Session, Summary: "List bound cards",
		Response: cardList{}}, s.listCards)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/cards/:id", Tag: tag, Auth: Session, Summary: "Read a bound card",
		Response: wallet.Card{}, Params: id, Errors: []errs.Code{errs.NotFound}}, s.getCard)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/cards/:id/freeze", Tag: tag, Auth: Session, Summary: "Freeze a card: it can neither top up nor pay",
		Response: wallet.Card{}, Params: id, Errors: []errs.Code{errs.NotFound}}, s.freezeCard(true))
	s.handle(Op{Method: "POST", Path: "/v1/wallet/cards/:id/unfreeze", Tag: tag, Auth: Session, Summary: "Unfreeze a card",
		Response: wallet.Card{}, Params: id, Errors: []errs.Code{errs.NotFound}}, s.freezeCard(false))
	s.handle(Op{Method: "DELETE", Path: "/v1/wallet/cards/:id", Tag: tag, Auth: Session, Summary: "Unbind a card",
		Status: http.StatusNoContent, Params: id, Errors: []errs.Code{errs.NotFound}}, s.unbindCard)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/cards/:id/limits", Tag: tag, Auth: Session, Summary: "Read a card's limits and today's usage",
		Response: wallet.LimitsView{}, Params: id, Errors: []errs.Code{errs.NotFound}}, s.getLimits)
	s.handle(Op{Method: "PATCH", Path: "/v1/wallet/cards/:id/limits", Tag: tag, Auth: Session, Summary: "Change a card's limits (up to the configured maximum; raising needs a one-time code)",
		Request: limitsRequest{}, Response: wallet.LimitsView{}, Params: id, Errors: []errs.Code{errs.NotFound, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.RateLimited}}, s.setLimits)
	s.handle(Op{Method: "PUT", Path: "/v1/wallet/pin", Tag: tag, Auth: Session, Summary: "Set the payment PIN, or change it (old_pin required)",
		Request: pinRequest{}, Status: http.StatusNoContent, Errors: []errs.Code{errs.PINRequired, errs.PINInvalid, errs.Locked, errs.RateLimited}}, s.setPIN)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/pin/verify", Tag: tag, Auth: Session, Summary: "Check the payment PIN",
		Request: verifyPINRequest{}, Status: http.StatusNoContent, Errors: []errs.Code{errs.PINRequired, errs.PINInvalid, errs.Locked, errs.RateLimited}}, s.verifyPIN)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/topups", Tag: tag, Auth: Session, Idempotent: true, Summary: "Top up the wallet from a bound card (the PIN above PIN_THRESHOLD)",
		Request: topupRequest{}, Response: wallet.Movement{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.NotFound, errs.CardFrozen, errs.CardDeclined, errs.LimitExceeded, errs.WalletClosed, errs.WalletFrozen,
			errs.StepUpRequired, errs.RiskDeclined, errs.PINRequired, errs.PINInvalid, errs.Locked, errs.RateLimited}}, s.topUp)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/transfers", Tag: tag, Auth: Session, Idempotent: true, Summary: "Send money to another wallet (PIN or device approval required; a one-time code above OTP_TRANSFER_THRESHOLD)",
		Request: transferRequest{}, Response: wallet.Movement{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.NotFound, errs.InsufficientFunds, errs.PINRequired, errs.PINInvalid, errs.Locked, errs.RateLimited, errs.WalletClosed,
			errs.WalletFrozen, errs.LimitExceeded, errs.ApprovalInvalid, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.RiskDeclined}}, s.transfer)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/withdrawals", Tag: tag, Auth: Session, Idempotent: true, Summary: "Withdraw to a bound card (PIN required; a one-time code above OTP_TRANSFER_THRESHOLD)",
		Request: withdrawRequest{}, Response: wallet.Movement{}, Status: http.StatusCreated,
		Errors: []errs.Code{errs.NotFound, errs.InsufficientFunds, errs.CardFrozen, errs.CardDeclined, errs.LimitExceeded, errs.WalletClosed, errs.WalletFrozen,
			errs.PINRequired, errs.PINInvalid, errs.Locked, errs.RateLimited, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired, errs.Conflict}}, s.withdraw)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/movements/:id", Tag: tag, Auth: Session, Summary: "Read one money movement (top-up, transfer, payment, refund)",
		Response: wallet.Movement{}, Params: []Param{{Name: "id", Doc: "The ledger transfer id."}}, Errors: []errs.Code{errs.NotFound}}, s.getMovement)
	s.handle(Op{Method: "POST", Path: "/v1/wallet/close", Tag: tag, Auth: Session, Summary: "Close the wallet (zero balance, nothing in flight; password and a one-time code)",
		Request: closeRequest{}, Response: wallet.Wallet{}, Errors: []errs.Code{errs.Conflict, errs.Locked, errs.RateLimited, errs.Unauthorized, errs.OTPRequired, errs.OTPInvalid, errs.OTPExpired}}, s.closeWallet)
}

func (s *Server) register(c *fiber.Ctx) error {
	var req registerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	w, err := s.deps.Wallet.Register(c.UserContext(), wallet.RegisterInput{Phone: req.Phone, Password: req.Password,
		DeviceID: req.DeviceID, OTP: req.OTP})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(w)
}

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	token, sess, p, err := s.deps.Wallet.Login(c.UserContext(), wallet.LoginInput{Phone: req.Phone, Password: req.Password,
		DeviceID: req.DeviceID, OTP: req.OTP}, s.clientAddr(c))
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(sessionCreated{Token: token, SessionID: sess.ID, WalletID: p.WalletID, ExpiresAt: sess.ExpiresAt})
}

func (s *Server) listSessions(c *fiber.Ctx) error {
	list, err := s.deps.Wallet.Sessions(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(sessionList{Data: list})
}

func (s *Server) revokeSession(c *fiber.Ctx) error {
	p := principal(c)
	id := c.Params("id")
	if id == "current" {
		id = p.SessionID
	}
	if err := s.deps.Wallet.RevokeSession(c.UserContext(), p, id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) getWallet(c *fiber.Ctx) error {
	w, err := s.deps.Wallet.Get(c.UserContext(), principal(c).WalletID)
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) bindCard(c *fiber.Ctx) error {
	var req bindCardRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	card, err := s.deps.Wallet.BindCard(c.UserContext(), principal(c), wallet.CardInput{
		Number: req.Number, ExpMonth: req.ExpMonth, ExpYear: req.ExpYear, HolderName: req.HolderName, OTP: req.OTP})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(card)
}

func (s *Server) listCards(c *fiber.Ctx) error {
	cards, err := s.deps.Wallet.Cards(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(cardList{Data: cards})
}

func (s *Server) getCard(c *fiber.Ctx) error {
	card, err := s.deps.Wallet.Card(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(card)
}

func (s *Server) freezeCard(frozen bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		card, err := s.deps.Wallet.SetFrozen(c.UserContext(), principal(c), c.Params("id"), frozen)
		if err != nil {
			return err
		}
		return c.JSON(card)
	}
}

func (s *Server) unbindCard(c *fiber.Ctx) error {
	if err := s.deps.Wallet.Unbind(c.UserContext(), principal(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) getLimits(c *fiber.Ctx) error {
	v, err := s.deps.Wallet.CardLimits(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) setLimits(c *fiber.Ctx) error {
	var req limitsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.deps.Wallet.SetCardLimits(c.UserContext(), principal(c), c.Params("id"), wallet.LimitsChange{
		PerTransaction: req.PerTransaction, DailyAmount: req.DailyAmount, DailyCount: req.DailyCount, OTP: req.OTP})
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) setPIN(c *fiber.Ctx) error {
	var req pinRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.Wallet.SetPIN(c.UserContext(), principal(c), req.PIN, req.OldPIN); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) verifyPIN(c *fiber.Ctx) error {
	var req verifyPINRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.Wallet.VerifyPIN(c.UserContext(), principal(c), req.PIN); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) walletRequest(c *fiber.Ctx) wallet.Request {
	return wallet.Request{Key: c.Get(headerIdempotencyKey), Fingerprint: fingerprint(c)}
}

func (s *Server) topUp(c *fiber.Ctx) error {
	var req topupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mv, err := s.deps.Wallet.TopUp(c.UserContext(), principal(c), req.CardID, req.Amount, req.Currency, req.PIN, s.walletRequest(c))
	if err != nil {
		return err
	}
	s.feed.poke(principal(c).AccountID)
	if mv.Replayed {
		c.Set(headerReplayed, "true") // answered from the ledger: its Redis record was gone
	}
	return c.Status(http.StatusCreated).JSON(mv)
}

func (s *Server) transfer(c *fiber.Ctx) error {
	var req transferRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mv, err := s.deps.Wallet.Transfer(c.UserContext(), principal(c), wallet.TransferInput{
		ToPhone: req.ToPhone, ToWalletID: req.ToWalletID, Amount: req.Amount, Currency: req.Currency,
		Note: req.Note, PIN: req.PIN, Approval: req.Approval, OTP: req.OTP}, s.walletRequest(c))
	if err != nil {
		return err
	}
	s.feed.poke(principal(c).AccountID)
	if mv.Replayed {
		c.Set(headerReplayed, "true") // answered from the ledger: its Redis record was gone
	}
	return c.Status(http.StatusCreated).JSON(mv)
}

func (s *Server) withdraw(c *fiber.Ctx) error {
	var req withdrawRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	mv, err := s.deps.Wallet.Withdraw(c.UserContext(), principal(c), wallet.WithdrawInput{
		CardID: req.CardID, Amount: req.Amount, Currency: req.Currency, PIN: req.PIN, OTP: req.OTP}, s.walletRequest(c))
	if err != nil {
		return err
	}
	s.feed.poke(principal(c).AccountID)
	if mv.Replayed {
		c.Set(headerReplayed, "true") // answered from the ledger: its Redis record was gone
	}
	return c.Status(http.StatusCreated).JSON(mv)
}

func (s *Server) getMovement(c *fiber.Ctx) error {
	mv, err := s.deps.Wallet.Movement(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(mv)
}

func (s *Server) closeWallet(c *fiber.Ctx) error {
	var req closeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := principal(c)
	if err := s.deps.Wallet.Close(c.UserContext(), p, req.Password, req.OTP); err != nil {
		return err
	}
	w, err := s.deps.Wallet.Get(c.UserContext(), p.WalletID)
	if err != nil {
		return err
	}
	return c.JSON(w)
}
