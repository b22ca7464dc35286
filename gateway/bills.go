package gateway

import (
	"bytes"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/wallet"
)

// billRoutes registers the wallet's bills: history, statements, analysis.
// They read only the caller's own wallet: no route takes a wallet id.
func (s *Server) billRoutes() {
	const tag = "bills"
	invalid := []errs.Code{errs.Invalid}
	s.handle(Op{Method: "GET", Path: "/v1/wallet/movements", Tag: tag, Auth: Session,
		Summary: "List the wallet's money movements, newest first (cursor pages)", Response: wallet.HistoryPage{},
		Params: []Param{
			{Name: "limit", In: "query", Type: "integer", Doc: "1 to 100, default 20."},
			{Name: "starting_after", In: "query", Doc: "The next_cursor of the previous page. Movements that arrive during a walk show only on a new first page."},
			{Name: "from", In: "query", Doc: "First day, YYYY-MM-DD in the wallet's time zone."},
			{Name: "to", In: "query", Doc: "Last day (inclusive), YYYY-MM-DD in the wallet's time zone."},
			{Name: "type", In: "query", Doc: "Only these types, comma-separated: topup, transfer_in, transfer_out, payment, refund."},
		}, Errors: invalid}, s.listMovements)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/statements/:month", Tag: tag, Auth: Session,
		Summary:  "A month's statement: opening and closing balance, money in and out by type (JSON, or the CSV file with ?format=csv or Accept: text/csv)",
		Response: wallet.Statement{}, AlsoProduces: "text/csv", Params: []Param{
			{Name: "month", Doc: "YYYY-MM in the wallet's time zone; the current month or an earlier one."},
			{Name: "format", In: "query", Doc: "json (default) or csv: the statement file, docs/bills.md describes its layout."},
		}, Errors: invalid}, s.getStatement)
	s.handle(Op{Method: "GET", Path: "/v1/wallet/analysis", Tag: tag, Auth: Session,
		Summary: "Spending analysis: net spending by category, top merchants and month", Response: wallet.Analysis{},
		Params: []Param{
			{Name: "from", In: "query", Doc: "First day, YYYY-MM-DD in the wallet's time zone; default the first of to's month."},
			{Name: "to", In: "query", Doc: "Last day (inclusive), YYYY-MM-DD; default today. The period is at most 366 days."},
			{Name: "top", In: "query", Type: "integer", Doc: "How many merchants to list before others: 1 to 50, default 5."},
		}, Errors: invalid}, s.getAnalysis)
}

// queryLimit reads an optional integer parameter that, when given, must be
// in [lo, hi].
func queryLimit(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	if c.Query(name) == "" {
		return def, nil
	}
	n, err := queryInt(c, name)
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, errs.E(errs.Invalid, "%s must be %d to %d", name, lo, hi)
	}
	return n, nil
}

func (s *Server) listMovements(c *fiber.Ctx) error {
	limit, err := queryLimit(c, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	q := wallet.HistoryQuery{Limit: limit, StartingAfter: c.Query("starting_after"), From: c.Query("from"), To: c.Query("to")}
	if t := c.Query("type"); t != "" {
		q.Types = strings.Split(t, ",")
	}
	page, err := s.deps.Wallet.History(c.UserContext(), principal(c), q)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) getStatement(c *fiber.Ctx) error {
	var asCSV bool
	switch f := c.Query("format"); f {
	case "csv":
		asCSV = true
	case "json":
	case "":
		asCSV = strings.Contains(c.Get(fiber.HeaderAccept), "text/csv")
	default:
		return errs.E(errs.Invalid, "format must be json or csv")
	}
	month := c.Params("month")
	if !asCSV {
		st, err := s.deps.Wallet.Statement(c.UserContext(), principal(c), month, nil)
		if err != nil {
			return err
		}
		return c.JSON(st)
	}
	var buf bytes.Buffer
	if _, err := s.deps.Wallet.Statement(c.UserContext(), principal(c), month, &buf); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="statement-`+month+`.csv"`)
	return c.Send(buf.Bytes())
}

func (s *Server) getAnalysis(c *fiber.Ctx) error {
	top, err := queryLimit(c, "top", 5, 1, 50)
	if err != nil {
		return err
	}
	a, err := s.deps.Wallet.Analysis(c.UserContext(), principal(c), wallet.AnalysisQuery{
		From: c.Query("from"), To: c.Query("to"), Top: top})
	if err != nil {
		return err
	}
	return c.JSON(a)
}
