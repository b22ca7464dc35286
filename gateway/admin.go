package gateway

import (
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/gateway/errs"
	"github.com/qrpay/qrpay/gateway/ledger"
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
}

func (s *Server) ledgerCheck(c *fiber.Ctx) error {
	r, err := ledger.Check(c.UserContext(), s.deps.Pool)
	if err != nil {
		return err
	}
	return c.JSON(r)
}
