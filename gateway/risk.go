package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/risk"
)

// securityNotice is an alert as its wallet's owner sees it.
type securityNotice struct {
	ID         string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Kind       risk.Kind `json:"kind" example:"payment" enum:"payment,topup,transfer,withdrawal"`
	Outcome    string    `json:"outcome" example:"step_up" enum:"alert,step_up,decline" doc:"alert: it went through; step_up: it went through once you confirmed; decline: it was refused."`
	Reason     string    `json:"reason" example:"6 payments with this card in the last minute"`
	Amount     int64     `json:"amount" example:"1200"`
	Currency   string    `json:"currency" example:"CNY"`
	TransferID string    `json:"transfer_id,omitempty" example:""`
	CreatedAt  time.Time `json:"created_at"`
}

type securityNoticeList struct {
	Data       []securityNotice `json:"data"`
	HasMore    bool             `json:"has_more"`
	NextCursor string           `json:"next_cursor,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
}

func (s *Server) riskRoutes() {
	page := []Param{
		{Name: "starting_after", In: "query", Doc: "The cursor of the previous page (next_cursor)."},
		{Name: "limit", In: "query", Type: "integer", Doc: "1 to 200; default 50."},
	}
	s.handle(Op{Method: "GET", Path: "/v1/admin/alerts", Tag: "admin", Auth: Operator,
		Summary: "List risk alerts, newest first, by wallet, rule and time", Response: risk.AlertPage{},
		Params: append([]Param{
			{Name: "wallet_id", In: "query", Doc: "Only this wallet's alerts."},
			{Name: "rule", In: "query", Doc: "Only this rule's: card_velocity, card_merchants, unusual_amount, new_card_large_amount, repeated_declines, new_recipient."},
			{Name: "from", In: "query", Doc: "RFC 3339 time: alerts at or after it."},
			{Name: "to", In: "query", Doc: "RFC 3339 time: alerts before it."},
		}, page...)}, s.listAlerts)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/security-notices", Tag: "wallet", Auth: Session,
		Summary: "List what the risk checks found about this wallet's movements, newest first", Response: securityNoticeList{},
		Params: page}, s.securityNotices)
}

func (s *Server) alertFilter(c *fiber.Ctx) (risk.AlertFilter, error) {
	f := risk.AlertFilter{WalletID: c.Query("wallet_id"), Rule: c.Query("rule"), StartingAfter: c.Query("starting_after")}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := c.Query(t.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, errs.E(errs.Invalid, "%s must be an RFC 3339 time", t.name)
			}
			*t.dst = at
		}
	}
	var err error
	f.Limit, err = queryLimit(c, "limit", 50, 1, 200)
	return f, err
}

func (s *Server) listAlerts(c *fiber.Ctx) error {
	f, err := s.alertFilter(c)
	if err != nil {
		return err
	}
	page, err := risk.ListAlerts(c.UserContext(), s.deps.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) securityNotices(c *fiber.Ctx) error {
	f, err := s.alertFilter(c)
	if err != nil {
		return err
	}
	f.WalletID, f.Rule, f.From, f.To = principal(c).WalletID, "", time.Time{}, time.Time{}
	page, err := risk.ListAlerts(c.UserContext(), s.deps.Pool, f)
	if err != nil {
		return err
	}
	out := securityNoticeList{Data: make([]securityNotice, 0, len(page.Data)), HasMore: page.HasMore, NextCursor: page.NextCursor}
	for _, a := range page.Data {
		out.Data = append(out.Data, securityNotice{ID: a.ID, Kind: a.Kind, Outcome: a.Outcome, Reason: a.Reason,
			Amount: a.Amount, Currency: a.Currency, TransferID: a.TransferID, CreatedAt: a.CreatedAt})
	}
	return c.JSON(out)
}
