package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// walletPages are the wallet's pages after sign-in. Each is a shell the
// page script fills from the public wallet API with the customer's session
// token, which the script keeps in the tab's sessionStorage: the server
// renders no customer data, so the pages need no session of their own.
var walletPages = []string{"home", "pay", "paycode", "history", "statement", "analysis", "notices"}

type walletView struct {
	Page  string
	Pages []string
}

func (p *Pages) walletRoutes(app *fiber.App) {
	app.Get("/wallet", p.walletSignIn)
	app.Get("/wallet/:page", p.walletPage)
}

func (p *Pages) walletSignIn(c *fiber.Ctx) error {
	return p.render(c, http.StatusOK, "wallet_signin", "wallet_signin", "wallet.js", walletView{Page: "signin"})
}

func (p *Pages) walletPage(c *fiber.Ctx) error {
	page := c.Params("page")
	for _, w := range walletPages {
		if w == page {
			return p.render(c, http.StatusOK, "wallet", "wallet_"+page, "wallet.js", walletView{Page: page, Pages: walletPages})
		}
	}
	return p.errorPage(c, http.StatusNotFound, "error_not_found")
}
