package gateway

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
)

// authOperator admits the operator's bearer token, compared in constant time.
func (s *Server) authOperator(c *fiber.Ctx) error {
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if s.cfg.OperatorToken == "" || !ok ||
		subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.OperatorToken)) != 1 {
		return errs.E(errs.Unauthorized, "operator token required")
	}
	return c.Next()
}

func (s *Server) adminRoutes() {
	s.handle(Op{
		Method: "GET", Path: "/v1/admin/ledger/check", Tag: "admin", Auth: Operator,
		Summary:  "Recompute every balance from its postings and report drift",
		Response: ledger.Report{},
	}, s.ledgerCheck)
	s.merchantAdminRoutes()
}

func (s *Server) ledgerCheck(c *fiber.Ctx) error {
	r, err := ledger.Check(c.UserContext(), s.deps.Pool)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

type createMerchantRequest struct {
	Name       string `json:"name" example:"Blue Bottle Coffee" doc:"At most 25 characters."`
	City       string `json:"city" example:"Shanghai" doc:"At most 15 characters."`
	MCC        string `json:"mcc" example:"5814"`
	Country    string `json:"country" example:"CN"`
	Currency   string `json:"currency" example:"CNY"`
	FeeBPS     int    `json:"fee_bps" example:"60"`
	WebhookURL string `json:"webhook_url,omitempty" example:"https://pos.example.com/qrpay/webhook"`
}

type merchantCreated struct {
	merchant.Merchant
	WebhookSecret string `json:"webhook_secret" example:"whsec_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA" doc:"Verifies the merchant's webhooks."`
}

type merchantList struct {
	Data []merchant.Merchant `json:"data"`
}

type issueKeyRequest struct {
	Scopes []string `json:"scopes" example:"[\"pos\"]" doc:"pos (orders, refunds, events) and/or finance (settlements)."`
}

type rotateKeyRequest struct {
	GraceSeconds int `json:"grace_seconds,omitempty" example:"86400" doc:"How long the old key keeps working; default 24 h."`
}

type keyList struct {
	Data []merchant.APIKey `json:"data"`
}

func (s *Server) merchantAdminRoutes() {
	const tag = "admin"
	mid := Param{Name: "id", Doc: "The merchant id."}
	s.handle(Op{Method: "POST", Path: "/v1/admin/merchants", Tag: tag, Auth: Operator, Summary: "Onboard a merchant",
		Request: createMerchantRequest{}, Response: merchantCreated{}, Status: http.StatusCreated}, s.createMerchant)
	s.handle(Op{Method: "GET", Path: "/v1/admin/merchants", Tag: tag, Auth: Operator, Summary: "List merchants",
		Response: merchantList{}}, s.listMerchants)
	s.handle(Op{Method: "GET", Path: "/v1/admin/merchants/:id", Tag: tag, Auth: Operator, Summary: "Read a merchant (with its webhook secret)",
		Response: merchantCreated{}, Params: []Param{mid}, Errors: []errs.Code{errs.NotFound}}, s.adminGetMerchant)
	s.handle(Op{Method: "POST", Path: "/v1/admin/merchants/:id/suspend", Tag: tag, Auth: Operator,
		Summary: "Suspend a merchant: no new orders, no payments", Response: merchant.Merchant{}, Params: []Param{mid},
		Errors: []errs.Code{errs.NotFound}}, s.setMerchantStatus(true))
	s.handle(Op{Method: "POST", Path: "/v1/admin/merchants/:id/resume", Tag: tag, Auth: Operator,
		Summary: "Reactivate a suspended merchant", Response: merchant.Merchant{}, Params: []Param{mid},
		Errors: []errs.Code{errs.NotFound}}, s.setMerchantStatus(false))
	s.handle(Op{Method: "POST", Path: "/v1/admin/merchants/:id/keys", Tag: tag, Auth: Operator,
		Summary: "Issue an API key (the secret is shown once)", Request: issueKeyRequest{}, Response: merchant.APIKey{},
		Status: http.StatusCreated, Params: []Param{mid}, Errors: []errs.Code{errs.NotFound}}, s.issueKey)
	s.handle(Op{Method: "GET", Path: "/v1/admin/merchants/:id/keys", Tag: tag, Auth: Operator,
		Summary: "List a merchant's API keys", Response: keyList{}, Params: []Param{mid}, Errors: []errs.Code{errs.NotFound}}, s.listKeys)
	s.handle(Op{Method: "POST", Path: "/v1/admin/merchants/:id/keys/:key_id/rotate", Tag: tag, Auth: Operator,
		Summary: "Rotate an API key: a new key now, the old one until the grace ends", Request: rotateKeyRequest{}, OptionalBody: true,
		Response: merchant.APIKey{}, Status: http.StatusCreated, Params: []Param{mid, {Name: "key_id", Doc: "The key to rotate."}},
		Errors: []errs.Code{errs.NotFound}}, s.rotateKey)
	s.handle(Op{Method: "DELETE", Path: "/v1/admin/merchants/:id/keys/:key_id", Tag: tag, Auth: Operator,
		Summary: "Revoke an API key at once", Status: http.StatusNoContent, Params: []Param{mid, {Name: "key_id", Doc: "The key to revoke."}},
		Errors: []errs.Code{errs.NotFound}}, s.revokeKey)
}

func (s *Server) createMerchant(c *fiber.Ctx) error {
	var req createMerchantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.deps.Merchant.Create(c.UserContext(), merchant.MerchantInput{Name: req.Name, City: req.City, MCC: req.MCC,
		Country: req.Country, Currency: req.Currency, FeeBPS: req.FeeBPS, WebhookURL: req.WebhookURL})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(merchantCreated{Merchant: m, WebhookSecret: s.deps.Merchant.WebhookSecret(m)})
}

func (s *Server) listMerchants(c *fiber.Ctx) error {
	list, err := s.deps.Merchant.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(merchantList{Data: list})
}

func (s *Server) adminGetMerchant(c *fiber.Ctx) error {
	m, err := s.deps.Merchant.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(merchantCreated{Merchant: m, WebhookSecret: s.deps.Merchant.WebhookSecret(m)})
}

func (s *Server) setMerchantStatus(suspend bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		m, err := s.deps.Merchant.SetStatus(c.UserContext(), c.Params("id"), suspend)
		if err != nil {
			return err
		}
		return c.JSON(m)
	}
}

func (s *Server) issueKey(c *fiber.Ctx) error {
	var req issueKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	k, err := s.deps.Merchant.IssueKey(c.UserContext(), c.Params("id"), req.Scopes)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(k)
}

func (s *Server) listKeys(c *fiber.Ctx) error {
	keys, err := s.deps.Merchant.Keys(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(keyList{Data: keys})
}

func (s *Server) rotateKey(c *fiber.Ctx) error {
	var req rotateKeyRequest
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if req.GraceSeconds < 0 || req.GraceSeconds > 30*86400 {
		return errs.E(errs.Invalid, "grace_seconds must be 0 to 2592000")
	}
	k, err := s.deps.Merchant.RotateKey(c.UserContext(), c.Params("id"), c.Params("key_id"), time.Duration(req.GraceSeconds)*time.Second)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(k)
}

func (s *Server) revokeKey(c *fiber.Ctx) error {
	if err := s.deps.Merchant.RevokeKey(c.UserContext(), c.Params("id"), c.Params("key_id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
