package gateway

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/settlement"
)

type runSettlementRequest struct {
	Date       string `json:"date" example:"2026-11-25" doc:"The business day, YYYY-MM-DD in TIME_ZONE."`
	MerchantID string `json:"merchant_id,omitempty" doc:"Only this merchant; all when empty."`
	CloseEarly bool   `json:"close_early,omitempty" example:"false" doc:"Settle a day that has not ended: its period ends now and the rest of the day goes to the next settlement."`
}

type runSettlementResult struct {
	Data []settlement.Outcome `json:"data"`
}

type verifyResult struct {
	OK   bool               `json:"ok"`
	Data []settlement.Check `json:"data"`
}

func (s *Server) financeRoutes() {
	const tag = "finance"
	fin := merchant.ScopeFinance
	date := []Param{{Name: "date", Doc: "The business day, YYYY-MM-DD."}}
	dayErrors := []errs.Code{errs.Invalid, errs.NotFound}
	s.handle(Op{Method: "GET", Path: "/v1/settlements", Tag: tag, Auth: Merchant, Scope: fin,
		Summary: "List settled days, newest first", Response: settlement.Page{}, Params: []Param{
			{Name: "from", In: "query", Doc: "First day, YYYY-MM-DD."}, {Name: "to", In: "query", Doc: "Last day, YYYY-MM-DD."},
			{Name: "limit", In: "query", Type: "integer", Doc: "1 to 366, default 31."},
			{Name: "starting_after", In: "query", Doc: "The next_cursor of the previous page."}}}, s.listSettlements)
	s.handle(Op{Method: "GET", Path: "/v1/settlements/:date", Tag: tag, Auth: Merchant, Scope: fin,
		Summary: "Read a day's settlement: totals, checksum, status", Response: settlement.Settlement{}, Params: date,
		Errors: dayErrors}, s.getSettlement)
	s.handle(Op{Method: "GET", Path: "/v1/settlements/:date/file", Tag: tag, Auth: Merchant, Scope: fin,
		Summary: "Download a day's settlement file (CSV; ETag is its SHA-256; gzip on request)", Produces: "text/csv", ETag: true,
		Params: date, Errors: dayErrors}, s.downloadSettlement)
	s.handle(Op{Method: "GET", Path: "/v1/settlements/:date/verify", Tag: tag, Auth: Merchant, Scope: fin,
		Summary: "Recompute a day from the ledger and compare it with the settled file", Response: settlement.Check{},
		Params: date, Errors: dayErrors}, s.verifySettlement)
	s.handle(Op{Method: "POST", Path: "/v1/admin/settlements/run", Tag: "admin", Auth: Operator,
		Summary: "Settle a business day now (normally the nightly job does)", Request: runSettlementRequest{},
		Response: runSettlementResult{}, Errors: []errs.Code{errs.NotFound}}, s.runSettlement)
	s.handle(Op{Method: "GET", Path: "/v1/admin/settlements/verify", Tag: "admin", Auth: Operator,
		Summary: "Reconcile every merchant's settlement of a day with the ledger", Response: verifyResult{},
		Params: []Param{{Name: "date", In: "query", Doc: "YYYY-MM-DD", Required: true}}}, s.verifyAll)
}

func (s *Server) listSettlements(c *fiber.Ctx) error {
	limit, err := queryLimit(c, "limit", 31, 1, 366)
	if err != nil {
		return err
	}
	p, err := s.deps.Settlement.List(c.UserContext(), callerOf(c).MerchantID, c.Query("from"), c.Query("to"), c.Query("starting_after"), limit)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) getSettlement(c *fiber.Ctx) error {
	st, err := s.deps.Settlement.Get(c.UserContext(), callerOf(c).MerchantID, c.Params("date"))
	if err != nil {
		return err
	}
	if st.Status != "settled" {
		return errs.E(errs.NotFound, "no settlement for %s", st.Date)
	}
	return c.JSON(st)
}

// downloadSettlement streams the file: never whole in memory, gzipped on
// the fly when the client accepts it, with its SHA-256 as the ETag so a
// client can verify what it received and skip what it already has.
func (s *Server) downloadSettlement(c *fiber.Ctx) error {
	st, r, err := s.deps.Settlement.Open(context.WithoutCancel(c.UserContext()), callerOf(c).MerchantID, c.Params("date"))
	if err != nil {
		return err
	}
	etag := `"` + st.SHA256 + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+st.FileName+`"`)
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set("X-Content-SHA256", st.SHA256)
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		r.Close()
		return c.SendStatus(http.StatusNotModified)
	}
	if !strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		return c.SendStream(closeAfter(r), int(st.FileSize))
	}
	c.Set(fiber.HeaderContentEncoding, "gzip")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer r.Close()
		zw := gzip.NewWriter(w)
		if _, err := io.Copy(zw, r); err != nil {
			s.log.Warn("streaming a settlement file failed", "err", err)
		}
		_ = zw.Close()
	})
	return nil
}

// closeAfter closes r once it has been read to the end, as a streamed
// response body has no other moment to close it.
func closeAfter(r io.ReadCloser) io.Reader { return &eofCloser{r} }

type eofCloser struct{ io.ReadCloser }

func (e *eofCloser) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	if err == io.EOF {
		e.ReadCloser.Close()
	}
	return n, err
}

func (s *Server) verifySettlement(c *fiber.Ctx) error {
	checks, err := s.deps.Settlement.Verify(c.UserContext(), c.Params("date"), callerOf(c).MerchantID)
	if err != nil {
		return err
	}
	if len(checks) == 0 {
		return errs.E(errs.NotFound, "no settlement for %s", c.Params("date"))
	}
	return c.JSON(checks[0])
}

func (s *Server) runSettlement(c *fiber.Ctx) error {
	var req runSettlementRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), 10*time.Minute)
	defer cancel()
	out, err := s.deps.Settlement.Run(ctx, req.Date, req.MerchantID, req.CloseEarly)
	if err != nil && out == nil {
		return err
	}
	if out == nil {
		out = []settlement.Outcome{}
	}
	return c.JSON(runSettlementResult{Data: out})
}

func (s *Server) verifyAll(c *fiber.Ctx) error {
	checks, err := s.deps.Settlement.Verify(c.UserContext(), c.Query("date"), "")
	if err != nil {
		return err
	}
	res := verifyResult{OK: true, Data: checks}
	for _, ch := range checks {
		res.OK = res.OK && ch.OK
	}
	if res.Data == nil {
		res.Data = []settlement.Check{}
	}
	return c.JSON(res)
}
