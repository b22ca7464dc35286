package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/settlement"
)

// The finance console signs in with a merchant API key that has the
// finance scope and keeps a short server-side session in Redis: the
// browser holds only a random token in an HttpOnly, SameSite=Strict cookie
// (Secure over TLS). Every form carries a CSRF token: the sign-in form a
// double-submitted one (cookie and field), the signed-in forms the
// session's own (synchronizer token).
const (
	consoleCookie = "qrpay_console"
	csrfCookie    = "qrpay_console_csrf"
	// ConsoleSessionTTL is how long a console session lives without use.
	ConsoleSessionTTL = 30 * time.Minute
	consoleDays       = 30
)

type consoleSession struct {
	MerchantID string `json:"merchant_id"`
	KeyID      string `json:"key_id"`
	CSRF       string `json:"csrf"`
}

func (p *Pages) financeRoutes(app *fiber.App) {
	app.Get("/finance", p.console)
	app.Post("/finance/session", p.consoleSignIn)
	app.Post("/finance/session/end", p.consoleSignOut)
	app.Get("/finance/settlements/:date/file", p.consoleDownload)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Pages) sessionKey(token string) string {
	sum := sha256.Sum256([]byte(token)) // Redis never holds the cookie itself
	return p.d.RedisPrefix + "web:console:" + hex.EncodeToString(sum[:])
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (p *Pages) setCookie(c *fiber.Ctx, name, value string, maxAge time.Duration) {
	ck := &fiber.Cookie{Name: name, Value: value, Path: "/finance", HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge.Seconds())
	} else {
		ck.Expires = time.Unix(1, 0) // clear it
	}
	c.Cookie(ck)
}

// session returns the caller's console session when it is live and its
// key still has the finance scope; otherwise it ends it.
func (p *Pages) session(c *fiber.Ctx) (consoleSession, bool, error) {
	token := c.Cookies(consoleCookie)
	if token == "" {
		return consoleSession{}, false, nil
	}
	ctx := c.UserContext()
	key := p.sessionKey(token)
	raw, err := p.d.Redis.GetEx(ctx, key, ConsoleSessionTTL).Bytes()
	if errors.Is(err, redis.Nil) {
		return consoleSession{}, false, nil
	}
	if err != nil {
		return consoleSession{}, false, err
	}
	var s consoleSession
	if err := json.Unmarshal(raw, &s); err != nil {
		return consoleSession{}, false, err
	}
	// A key revoked, expired or narrowed, or a merchant suspended, ends the
	// session at its next request.
	caller, _, err := p.d.Merchant.KeySecret(ctx, s.KeyID)
	if err != nil || caller.MerchantID != s.MerchantID || !caller.Can(merchant.ScopeFinance) || caller.Suspended {
		p.d.Redis.Del(ctx, key)
		return consoleSession{}, false, nil
	}
	return s, true, nil
}

type signInView struct {
	CSRF, Error string
}

// signInPage shows the sign-in form with a fresh double-submit token.
func (p *Pages) signInPage(c *fiber.Ctx, status int, errKey string) error {
	csrf := randomToken()
	p.setCookie(c, csrfCookie, csrf, time.Hour)
	v := signInView{CSRF: csrf}
	if errKey != "" {
		v.Error = language(c).T[errKey]
	}
	return p.render(c, status, "finance_signin", "finance_title", "", v)
}

func (p *Pages) console(c *fiber.Ctx) error {
	s, ok, err := p.session(c)
	if err != nil {
		p.d.Logger.ErrorContext(c.UserContext(), "finance console: reading the session failed", "err", err)
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	if !ok {
		return p.signInPage(c, http.StatusOK, "")
	}
	v, err := p.overview(c.UserContext(), s)
	if err != nil {
		p.d.Logger.ErrorContext(c.UserContext(), "finance console: reading the settlements failed", "err", err)
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	return p.render(c, http.StatusOK, "finance", "finance_title", "", v)
}

func (p *Pages) consoleSignIn(c *fiber.Ctx) error {
	if !sameToken(c.FormValue("csrf"), c.Cookies(csrfCookie)) {
		return p.signInPage(c, http.StatusForbidden, "finance_bad_form")
	}
	ctx := c.UserContext()
	keyID, secret := c.FormValue("key_id"), c.FormValue("secret")
	caller, want, err := p.d.Merchant.KeySecret(ctx, keyID)
	var e *errs.Error
	if err != nil && !(errors.As(err, &e) && e.Code == errs.Unauthorized) {
		p.d.Logger.ErrorContext(ctx, "finance console: reading the key failed", "err", err)
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	if err != nil || !sameToken(secret, want) || !caller.Can(merchant.ScopeFinance) || caller.Suspended {
		return p.signInPage(c, http.StatusUnauthorized, "finance_bad_key")
	}
	token := randomToken()
	raw, err := json.Marshal(consoleSession{MerchantID: caller.MerchantID, KeyID: caller.KeyID, CSRF: randomToken()})
	if err != nil {
		return err
	}
	if err := p.d.Redis.Set(ctx, p.sessionKey(token), raw, ConsoleSessionTTL).Err(); err != nil {
		p.d.Logger.ErrorContext(ctx, "finance console: storing the session failed", "err", err)
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	p.setCookie(c, consoleCookie, token, ConsoleSessionTTL)
	p.setCookie(c, csrfCookie, "", 0)
	return c.Redirect(FinancePath, http.StatusSeeOther)
}

func (p *Pages) consoleSignOut(c *fiber.Ctx) error {
	s, ok, err := p.session(c)
	if err != nil {
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	if !ok {
		return c.Redirect(FinancePath, http.StatusSeeOther)
	}
	if !sameToken(c.FormValue("csrf"), s.CSRF) {
		return p.errorPage(c, http.StatusForbidden, "finance_bad_form")
	}
	if err := p.d.Redis.Del(c.UserContext(), p.sessionKey(c.Cookies(consoleCookie))).Err(); err != nil {
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	p.setCookie(c, consoleCookie, "", 0)
	return c.Redirect(FinancePath, http.StatusSeeOther)
}

// consoleDownload sends a settled day's file, with its SHA-256 as the ETag
// and in X-Content-SHA256, as the finance API does.
func (p *Pages) consoleDownload(c *fiber.Ctx) error {
	s, ok, err := p.session(c)
	if err != nil {
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	if !ok {
		return c.Redirect(FinancePath, http.StatusSeeOther)
	}
	st, r, err := p.d.Settlement.Open(context.WithoutCancel(c.UserContext()), s.MerchantID, c.Params("date"))
	var e *errs.Error
	switch {
	case errors.As(err, &e) && (e.Code == errs.NotFound || e.Code == errs.Invalid):
		return p.errorPage(c, http.StatusNotFound, "error_not_found")
	case err != nil:
		p.d.Logger.ErrorContext(c.UserContext(), "finance console: opening a file failed", "err", err)
		return p.errorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	c.Set(fiber.HeaderETag, `"`+st.SHA256+`"`)
	c.Set("X-Content-SHA256", st.SHA256)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+st.FileName+`"`)
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStream(closeAtEOF{r}, int(st.FileSize))
}

// closeAtEOF closes a streamed body once it has been read to the end.
type closeAtEOF struct{ io.ReadCloser }

func (e closeAtEOF) Read(b []byte) (int, error) {
	n, err := e.ReadCloser.Read(b)
	if err == io.EOF {
		e.ReadCloser.Close()
	}
	return n, err
}

// consoleView is the console's overview.
type consoleView struct {
	CSRF, Merchant, Currency string
	Days                     []consoleDay
	Total                    settlement.Settlement
	Chart                    chart
}

type consoleDay struct {
	settlement.Settlement
	Net, Payments, Refunds, Fees string
	Reconciled                   bool
	Checked                      bool
	Drifts                       []string
}

func (p *Pages) overview(ctx context.Context, s consoleSession) (consoleView, error) {
	m, err := p.d.Merchant.Get(ctx, s.MerchantID)
	if err != nil {
		return consoleView{}, err
	}
	today := p.d.Settlement.Yesterday().End
	from := today.AddDate(0, 0, -(consoleDays - 1))
	page, err := p.d.Settlement.List(ctx, s.MerchantID, from.Format(time.DateOnly), today.Format(time.DateOnly), "", consoleDays+1)
	if err != nil {
		return consoleView{}, err
	}
	v := consoleView{CSRF: s.CSRF, Merchant: m.Name, Currency: m.Currency}
	v.Total.Currency = m.Currency
	net := map[string]int64{}
	for _, st := range page.Data {
		d := consoleDay{Settlement: st, Net: formatMoney(st.Net, st.Currency), Payments: formatMoney(st.PaymentsAmount, st.Currency),
			Refunds: formatMoney(st.RefundsAmount, st.Currency), Fees: formatMoney(st.Fees, st.Currency)}
		// Reconciliation recomputes the day from the ledger, as
		// `qrpay settle verify` does (docs/settlement.md).
		checks, err := p.d.Settlement.Verify(ctx, st.Date, s.MerchantID)
		if err == nil && len(checks) == 1 {
			d.Checked, d.Reconciled, d.Drifts = true, checks[0].OK, checks[0].Drifts
		} else if err != nil {
			p.d.Logger.WarnContext(ctx, "finance console: reconciling a day failed", "date", st.Date, "err", err)
		}
		v.Days = append(v.Days, d)
		net[st.Date] = st.Net
		v.Total.PaymentsCount += st.PaymentsCount
		v.Total.PaymentsAmount += st.PaymentsAmount
		v.Total.RefundsCount += st.RefundsCount
		v.Total.RefundsAmount += st.RefundsAmount
		v.Total.Fees += st.Fees
		v.Total.Net += st.Net
	}
	var days []string
	for d := from; !d.After(today); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly))
	}
	v.Chart = netChart(days, net, m.Currency)
	return v, nil
}
