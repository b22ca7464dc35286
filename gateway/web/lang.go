package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// lang is one language of the pages: its code and its strings.
type lang struct {
	Code string
	T    map[string]string
}

// languages are the pages' languages; every one has the same keys
// (strings_test.go checks).
var languages = map[string]lang{
	"en": {Code: "en", T: english},
	"zh": {Code: "zh", T: chinese},
}

const langCookie = "qrpay_lang"

// language picks the caller's language: ?lang= (which the switch link sets
// and which is remembered in a cookie), then the cookie, then the first
// language of Accept-Language the pages speak, then English.
func language(c *fiber.Ctx) lang {
	if q := c.Query("lang"); q != "" {
		if l, ok := languages[q]; ok {
			c.Cookie(&fiber.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
				SameSite: fiber.CookieSameSiteLaxMode})
			return l
		}
	}
	if l, ok := languages[c.Cookies(langCookie)]; ok {
		return l
	}
	return fromAcceptLanguage(c.Get(fiber.HeaderAcceptLanguage))
}

// fromAcceptLanguage picks the preferred language of an Accept-Language
// header (zh-CN;q=0.9, en, …) among those the pages speak.
func fromAcceptLanguage(h string) lang {
	best, bestQ := languages["en"], 0.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if l, ok := languages[primary]; ok && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}
