// Package web is the gateway's pages: the checkout display a POS terminal
// turns to its customer, the merchant finance console, and the wallet
// pages. Pages are server-rendered (html/template) with small scripts; the
// templates, scripts and styles are embedded and served by the gateway
// itself under a strict Content-Security-Policy (no inline script or style,
// nothing from another origin). The wallet pages' scripts call the public
// JSON API with the customer's session; the display and the console read
// the domain services the gateway holds.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/settlement"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// ContentSecurityPolicy is set on every page and asset: scripts, styles,
// images and connections from the gateway only, no inline code, no
// framing, forms posted only to the gateway.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// The pages' entry points, relative to the gateway.
const (
	FinancePath = "/finance/"
	WalletPath  = "/wallet/"
)

// prefixes are the paths of the pages and their assets.
var prefixes = []string{"/assets/", "/pay/display/", "/finance", "/wallet"}

// IsPage reports whether path is a page's or an asset's: HTML for people,
// not part of the API or its OpenAPI document.
func IsPage(path string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Redact hides the capability a page's path carries (a display link's
// token), for logs.
func Redact(path string) string {
	rest, ok := strings.CutPrefix(path, "/pay/display/")
	if !ok {
		return path
	}
	_, tail, _ := strings.Cut(rest, "/")
	if tail != "" {
		tail = "/" + tail
	}
	return "/pay/display/:token" + tail
}

// DisplayPath is the checkout display page of a display token.
func DisplayPath(token string) string { return "/pay/display/" + token }

// Deps are what the pages read.
type Deps struct {
	Merchant   *merchant.Service
	Settlement *settlement.Service
	// Redis keeps the finance console's sessions under RedisPrefix.
	Redis       redis.UniversalClient
	RedisPrefix string
	PNG         *merchant.PNGCache
	Logger      *slog.Logger
	// Poll is how often a display stream reads its order for changes made
	// through other replicas (a payment through this one wakes it at once).
	Poll time.Duration
	// Closing ends every display stream when the server shuts down.
	Closing <-chan struct{}
	Now     func() time.Time
}

// Pages serves the web pages.
type Pages struct {
	d     Deps
	pages map[string]*template.Template
	hub   orderHub
}

// New parses the templates; a template that does not parse is a
// programming error and panics.
func New(d Deps) *Pages {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	p := &Pages{d: d, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{"money": formatMoney}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		p.pages[strings.TrimSuffix(base, ".html")] = template.Must(template.New(base).Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n))
	}
	return p
}

// Register adds the pages' routes to app.
func (p *Pages) Register(app *fiber.App) {
	app.Use(func(c *fiber.Ctx) error {
		if IsPage(c.Path()) {
			return secureHeaders(c)
		}
		return c.Next()
	})
	app.Get("/assets/:name", p.asset)
	p.displayRoutes(app)
	p.financeRoutes(app)
	p.walletRoutes(app)
}

// secureHeaders sets the headers every page and asset carries.
func secureHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", ContentSecurityPolicy)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	// Display links carry their token in the path: never send it on.
	c.Set("Referrer-Policy", "no-referrer")
	return c.Next()
}

var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	// The license of a vendored script, served beside it.
	".txt": "text/plain; charset=utf-8",
}

func (p *Pages) asset(c *fiber.Ctx) error {
	name := c.Params("name")
	typ, ok := assetTypes[path.Ext(name)]
	if !ok || strings.ContainsAny(name, "/\\") {
		return p.errorPage(c, http.StatusNotFound, "error_not_found")
	}
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		return p.errorPage(c, http.StatusNotFound, "error_not_found")
	}
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(b)
}

// view is what every template gets.
type view struct {
	Lang  string
	T     map[string]string
	Title string
	// Switch is the path that shows this page in the other language.
	Switch, SwitchLabel string
	// Script is the page's script under /assets/, if any.
	Script string
	Data   any
}

// render writes a page in the caller's language.
func (p *Pages) render(c *fiber.Ctx, status int, page, titleKey, script string, data any) error {
	l := language(c)
	other := "zh"
	if l.Code == "zh" {
		other = "en"
	}
	v := view{Lang: l.Code, T: l.T, Title: l.T[titleKey], Switch: c.Path() + "?lang=" + other,
		SwitchLabel: languages[other].T["language_name"], Script: script, Data: data}
	var buf bytes.Buffer
	if err := p.pages[page].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		p.d.Logger.ErrorContext(c.UserContext(), "rendering a page failed", "page", page, "err", err)
		return c.Status(http.StatusInternalServerError).SendString("internal error")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	if c.Get(fiber.HeaderCacheControl) == "" {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return c.Status(status).Send(buf.Bytes())
}

// errorPage answers with a page saying what went wrong, in the caller's
// language, and nothing more.
func (p *Pages) errorPage(c *fiber.Ctx, status int, msgKey string) error {
	return p.render(c, status, "error", "error_title", "", language(c).T[msgKey])
}
