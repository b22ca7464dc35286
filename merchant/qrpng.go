package merchant

import (
	lru "github.com/hashicorp/golang-lru/v2"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/qrpay/qrpay/errs"
)

// The sizes RenderPNG accepts, in pixels per side. A long payload (363
// characters, with a Chinese language template, takes QR version 15: 85
// modules with the quiet zone) gets only 1.5 px per module at 128 px, about
// the least a reader can resolve; past 1024 px an image only costs CPU and
// bandwidth, since a display or printer scales it up without loss.
const (
	MinPNGSize = 128
	MaxPNGSize = 1024
)

// DefaultPNGCacheSize is the PNGCache capacity NewPNGCache uses when given
// none. At 1024 entries of at most a few kilobytes each (a 1-bit paletted
// PNG at best compression) the cache stays within a few megabytes.
const DefaultPNGCacheSize = 1024

// RenderPNG draws payload as a size×size pixel QR code PNG, black on white.
//
// It uses error-correction level M (about 15 % of the code words
// recoverable), the level EMVCo recommends for merchant-presented codes:
// a worn sticker stays readable, while Q and H would make the symbol denser
// for the same image size. The image keeps the library's four-module quiet
// zone, the margin ISO/IEC 18004 requires for a reader to find the symbol.
//
// The payload is written in byte mode without an ECI designator, so a
// reader must assume UTF-8, as EMVCo payloads are. Some readers guess the
// character set instead and may show a non-ASCII language template (64)
// wrongly; the bytes in the symbol are still exact.
//
// A size outside MinPNGSize..MaxPNGSize, an empty payload, or one too long
// for a QR code at the requested size is an errs.Invalid error.
func RenderPNG(payload string, size int) ([]byte, error) {
	if size < MinPNGSize || size > MaxPNGSize {
		return nil, errs.E(errs.Invalid, "QR image size %d px is outside %d–%d", size, MinPNGSize, MaxPNGSize)
	}
	if payload == "" {
		return nil, errs.E(errs.Invalid, "QR payload is empty")
	}
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "a %d-byte payload does not fit in a QR code", len(payload))
	}
	// The library silently returns a larger image than asked when the
	// symbol has more modules than size has pixels; a caller laying out a
	// receipt or a web page needs the size it asked for, or an error.
	if modules := 17 + 4*q.VersionNumber + 2*4; modules > size {
		return nil, errs.E(errs.Invalid, "a %d-byte payload needs a QR image of at least %d px, not %d", len(payload), modules, size)
	}
	return q.PNG(size)
}

// PNGCache remembers the most recently rendered QR PNGs, keyed by payload
// and size. A render costs milliseconds of CPU, more for larger images
// (BenchmarkRenderPNG), and a hit well under a microsecond, while a
// checkout page polls the same order's code and a till shows the same
// static code all day; so the HTTP endpoint serves repeated requests from
// here. It holds at most its capacity in entries and evicts the least
// recently used one. An entry never goes stale: a key is the payload
// itself, and the same payload always draws the same image.
//
// A PNGCache is safe for concurrent use. Rendering happens outside the
// cache's lock, so a slow render never delays hits; two concurrent misses
// for the same key both render, and the first to finish is kept and
// returned to both, which wastes one render but never blocks. Errors are
// not cached.
type PNGCache struct {
	render func(payload string, size int) ([]byte, error) // RenderPNG; tests count calls
	lru    *lru.Cache[pngKey, []byte]
}

type pngKey struct {
	payload string
	size    int
}

// NewPNGCache returns an empty cache holding at most capacity PNGs, or
// DefaultPNGCacheSize when capacity is not positive.
func NewPNGCache(capacity int) *PNGCache {
	if capacity <= 0 {
		capacity = DefaultPNGCacheSize
	}
	c, err := lru.New[pngKey, []byte](capacity)
	if err != nil {
		panic(err) // only for a capacity below one
	}
	return &PNGCache{render: RenderPNG, lru: c}
}

// Render returns RenderPNG(payload, size), from the cache when it can. The
// returned slice is shared with the cache and with every other caller of
// the same key: write it out, never modify it.
func (c *PNGCache) Render(payload string, size int) ([]byte, error) {
	k := pngKey{payload, size}
	if png, ok := c.lru.Get(k); ok {
		return png, nil
	}
	png, err := c.render(payload, size)
	if err != nil {
		return nil, err
	}
	// A concurrent miss may have stored the key first: share its slice.
	if prev, ok, _ := c.lru.PeekOrAdd(k, png); ok {
		return prev, nil
	}
	return png, nil
}
