package merchant

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant/emv"
)

// pngTestPayloads are real EMV payloads, checked by emv.Decode, covering
// what RenderPNG meets in production: a short dynamic order, and long ones
// whose language template 64 is in a non-Latin and an accented script.
func pngTestPayloads(t testing.TB) map[string]string {
	t.Helper()
	order := []emv.Field{
		{Tag: "00", Value: "01"},
		{Tag: "01", Value: "12"},
		{Tag: "26", Fields: []emv.Field{
			{Tag: "00", Value: "COM.QRPAY"},
			{Tag: "01", Value: "M7K2Q9"},
			{Tag: "02", Value: "R4XN2B7QW9KD3M5T"},
			{Tag: "03", Value: "1718100000"},
			{Tag: "04", Value: "JBSWY3DPEHPK3PXPJBSW"},
		}},
		{Tag: "52", Value: "5812"},
		{Tag: "53", Value: "156"},
		{Tag: "54", Value: "149.90"},
		{Tag: "58", Value: "CN"},
		{Tag: "59", Value: "QRPAY TEST CAFE"},
		{Tag: "60", Value: "BEIJING"},
		{Tag: "62", Fields: []emv.Field{
			{Tag: "01", Value: "ORD-20240611-0042"},
			{Tag: "05", Value: "R4XN2B7QW9KD3M5T"},
			{Tag: "07", Value: "TILL-03"},
		}},
	}
	long := func(lang, name, city string) []emv.Field {
		f := append([]emv.Field(nil), order...)
		f[len(f)-1] = emv.Field{Tag: "62", Fields: []emv.Field{
			{Tag: "01", Value: "ORD-20240611-0042"},
			{Tag: "03", Value: "CHAOYANG STORE 12"},
			{Tag: "05", Value: "R4XN2B7QW9KD3M5T"},
			{Tag: "07", Value: "TILL-03"},
			{Tag: "08", Value: "COFFEE AND PASTRY"},
		}}
		return append(f, emv.Field{Tag: "64", Fields: []emv.Field{
			{Tag: "00", Value: lang},
			{Tag: "01", Value: name},
			{Tag: "02", Value: city},
		}})
	}
	payloads := map[string]string{}
	for name, fields := range map[string][]emv.Field{
		"dynamic order":          order,
		"long, 64 in Chinese":    long("ZH", "北京朝阳区二十四小时咖啡馆与面包房连锁店", "北京市朝阳区"),
		"long, 64 in Portuguese": long("PT", "Café São João Padaria", "São Paulo"),
	} {
		s, err := emv.Encode(fields)
		if err != nil {
			t.Fatalf("emv.Encode(%s): %v", name, err)
		}
		if _, err := emv.Decode(s); err != nil {
			t.Fatalf("emv.Decode(%s) = %v; the test payload must be valid", name, err)
		}
		payloads[name] = s
	}
	return payloads
}

// zbarimgPath finds zbar's command-line reader, which Debian ships in
// zbar-tools. Its absence fails the test: a skipped round trip would let a
// broken QR image through CI unnoticed.
func zbarimgPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("the PNG round trip needs zbarimg: run `make test-deps` (or apt-get install zbar-tools): %v", err)
	}
	return path
}

// zbarimg reads the QR code in the PNG file with zbar. With binary set it
// passes -Sbinary: zbar then prints the bytes in the symbol as they are.
// Without it zbar guesses the character set of a byte-mode segment that
// carries no ECI designator, and converts to UTF-8; zbar 0.23.92 takes
// UTF-8 such as "北京" alone, "Café", or the whole Portuguese payload below
// for Shift-JIS and prints mojibake. --raw stops only zbarimg's own output
// conversion, not the decoder's guess, so only -Sbinary compares non-ASCII
// payloads exactly.
func zbarimg(t *testing.T, file string, binary bool) string {
	t.Helper()
	path := zbarimgPath(t)
	args := []string{"--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"}
	if binary {
		args = append(args, "-Sbinary")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, append(args, file)...)
	cmd.Stderr = &stderr // dbus complaints on machines without a system bus
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v\n%s", strings.Join(append(args, file), " "), err, stderr.Bytes())
	}
	if binary {
		return string(out)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestRenderPNGRoundTripsThroughZbar(t *testing.T) {
	t.Parallel()
	zbarimgPath(t)
	dir := t.TempDir()
	for name, payload := range pngTestPayloads(t) {
		for _, size := range []int{MinPNGSize, 300, MaxPNGSize} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				t.Parallel()
				b, err := RenderPNG(payload, size)
				if err != nil {
					t.Fatalf("RenderPNG(%d chars, %d) = %v", len(payload), size, err)
				}
				file := filepath.Join(dir, strings.NewReplacer(" ", "_", ",", "").Replace(name)+"-"+strconv.Itoa(size)+".png")
				if err := os.WriteFile(file, b, 0o644); err != nil {
					t.Fatal(err)
				}
				if got := zbarimg(t, file, true); got != payload {
					t.Errorf("zbarimg -Sbinary read\n%q\nwant\n%q", got, payload)
				}
				if isASCII(payload) {
					if got := zbarimg(t, file, false); got != payload {
						t.Errorf("zbarimg read\n%q\nwant\n%q", got, payload)
					}
				}
			})
		}
	}
}

// TestRenderPNGImage checks what the image promises besides the data: the
// size asked for and a white quiet zone four modules wide.
func TestRenderPNGImage(t *testing.T) {
	t.Parallel()
	for name, payload := range pngTestPayloads(t) {
		for _, size := range []int{MinPNGSize, 512} {
			b, err := RenderPNG(payload, size)
			if err != nil {
				t.Fatalf("RenderPNG(%s, %d) = %v", name, size, err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("RenderPNG(%s, %d) is not a PNG: %v", name, size, err)
			}
			if got := img.Bounds(); got != image.Rect(0, 0, size, size) {
				t.Errorf("RenderPNG(%s, %d) bounds %v; want %dx%d", name, size, got, size, size)
			}
			q, err := qrcode.New(payload, qrcode.Medium)
			if err != nil {
				t.Fatal(err)
			}
			// Pixel x shows module x*n/size, rounded down, of the n modules
			// across; modules 0–3 are the quiet zone.
			n := 17 + 4*q.VersionNumber + 2*4
			if got, want := quietZone(img, size), 4*size/n; got < want {
				t.Errorf("RenderPNG(%s, %d): quiet zone %d px; want at least %d (4 of %d modules)", name, size, got, want, n)
			}
		}
	}
}

func isDark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}

// quietZone returns the width of the white margin that surrounds the
// symbol on all four sides.
func quietZone(img image.Image, size int) int {
	for d := range size / 2 {
		for i := d; i < size-d; i++ {
			for _, p := range [][2]int{{i, d}, {i, size - 1 - d}, {d, i}, {size - 1 - d, i}} {
				if isDark(img.At(p[0], p[1])) {
					return d
				}
			}
		}
	}
	return size / 2
}

func TestRenderPNGRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		size    int
	}{
		{"zero size", "000201", 0},
		{"negative size: the library's module scale", "000201", -4},
		{"one below the minimum", "000201", MinPNGSize - 1},
		{"one above the maximum", "000201", MaxPNGSize + 1},
		{"empty payload", "", 256},
		{"longer than version 40 holds", strings.Repeat("x", 3000), 1024},
		{"more modules than pixels", strings.Repeat("x", 1500), MinPNGSize},
	}
	for _, tt := range tests {
		b, err := RenderPNG(tt.payload, tt.size)
		if !errs.Is(err, errs.Invalid) || b != nil {
			t.Errorf("%s: RenderPNG(%d chars, %d) = %d bytes, %v; want nil, an %q error", tt.name, len(tt.payload), tt.size, len(b), err, errs.Invalid)
		}
	}
	for _, size := range []int{MinPNGSize, MaxPNGSize} {
		if _, err := RenderPNG("000201", size); err != nil {
			t.Errorf("RenderPNG(\"000201\", %d) = %v; want a PNG", size, err)
		}
	}
}

// countingCache returns a cache whose renders are counted.
func countingCache(capacity int, render func(string, int) ([]byte, error)) (*PNGCache, func() int) {
	c := NewPNGCache(capacity)
	var mu sync.Mutex
	n := 0
	c.render = func(payload string, size int) ([]byte, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return render(payload, size)
	}
	return c, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestPNGCacheHits(t *testing.T) {
	t.Parallel()
	payload := pngTestPayloads(t)["dynamic order"]
	c, renders := countingCache(0, RenderPNG)
	first, err := c.Render(payload, 256)
	if err != nil {
		t.Fatal(err)
	}
	want, err := RenderPNG(payload, 256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, want) {
		t.Fatal("PNGCache.Render differs from RenderPNG")
	}
	for range 3 {
		again, err := c.Render(payload, 256)
		if err != nil {
			t.Fatal(err)
		}
		if &again[0] != &first[0] || !bytes.Equal(again, want) {
			t.Fatal("a cache hit returned other bytes than the first render")
		}
	}
	if n := renders(); n != 1 {
		t.Errorf("4 Renders of one key rendered %d times; want 1", n)
	}
	if _, err := c.Render(payload, 512); err != nil {
		t.Fatal(err)
	}
	if n := renders(); n != 2 {
		t.Errorf("a second size rendered %d times in all; want 2: size is part of the key", n)
	}
	if _, err := c.Render(payload, 5000); !errs.Is(err, errs.Invalid) {
		t.Errorf("Render(payload, 5000) = %v; want an invalid error", err)
	}
	if _, err := c.Render(payload, 5000); err == nil || renders() != 4 {
		t.Errorf("a failed render was cached (%d renders, %v)", renders(), err)
	}
}

func TestPNGCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c, renders := countingCache(2, func(p string, size int) ([]byte, error) {
		return []byte(p + strconv.Itoa(size)), nil
	})
	steps := []struct {
		payload string
		renders int // in all, after this Render
	}{
		{"a", 1}, {"b", 2}, {"a", 2}, // a is now the most recently used
		{"c", 3}, // evicts b
		{"a", 3}, {"c", 3},
		{"b", 4}, // evicts a
		{"a", 5},
	}
	for i, s := range steps {
		got, err := c.Render(s.payload, 200)
		if err != nil || string(got) != s.payload+"200" {
			t.Fatalf("step %d: Render(%q) = %q, %v", i, s.payload, got, err)
		}
		if n := renders(); n != s.renders {
			t.Fatalf("step %d: Render(%q) brought renders to %d; want %d", i, s.payload, n, s.renders)
		}
	}
	if n := c.lru.Len(); n != 2 {
		t.Errorf("cache holds %d entries; want 2", n)
	}
}

// TestPNGCacheConcurrent is for -race: many goroutines hit, miss and evict
// at once, and every caller must still get the PNG of its own key.
func TestPNGCacheConcurrent(t *testing.T) {
	t.Parallel()
	const capacity, keys, workers, rounds = 8, 20, 16, 300
	c, renders := countingCache(capacity, func(p string, size int) ([]byte, error) {
		return []byte(p + "@" + strconv.Itoa(size)), nil
	})
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				k := (i*7 + w) % keys
				if w%2 == 0 {
					k %= capacity / 2 // half the workers share a hot set
				}
				p := "payload-" + strconv.Itoa(k)
				got, err := c.Render(p, 256)
				if err != nil || string(got) != p+"@256" {
					errc <- fmt.Errorf("Render(%q, 256) = %q, %v", p, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := c.lru.Len(); n > capacity {
		t.Errorf("cache holds %d entries; want at most %d", n, capacity)
	}
	if n := renders(); n >= workers*rounds {
		t.Errorf("%d renders for %d Renders: the cache never hit", n, workers*rounds)
	}
}

func TestPNGCacheRealRendersConcurrent(t *testing.T) {
	t.Parallel()
	payloads := pngTestPayloads(t)
	want := map[string][]byte{}
	for name, p := range payloads {
		b, err := RenderPNG(p, 200)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = b
	}
	c := NewPNGCache(2) // fewer than the payloads, so renders and evictions race
	var wg sync.WaitGroup
	var failed sync.Once
	for range 8 {
		for name, p := range payloads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := c.Render(p, 200)
				if err != nil || !bytes.Equal(got, want[name]) {
					failed.Do(func() {
						t.Errorf("Render(%s) = %d bytes, %v; want RenderPNG's %d bytes", name, len(got), err, len(want[name]))
					})
				}
			}()
		}
	}
	wg.Wait()
}

func TestNewPNGCacheDefault(t *testing.T) {
	t.Parallel()
	for _, capacity := range []int{0, -1} {
		c := NewPNGCache(capacity)
		c.render = func(p string, size int) ([]byte, error) { return []byte(p), nil }
		for i := range DefaultPNGCacheSize + 1 {
			if _, err := c.Render(strconv.Itoa(i), 200); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.lru.Len(); got != DefaultPNGCacheSize {
			t.Errorf("NewPNGCache(%d) holds %d entries when full; want %d", capacity, got, DefaultPNGCacheSize)
		}
	}
}

func BenchmarkRenderPNG(b *testing.B) {
	payloads := pngTestPayloads(b)
	for short, name := range map[string]string{"order": "dynamic order", "long": "long, 64 in Chinese"} {
		for _, size := range []int{256, 512, MaxPNGSize} {
			b.Run(fmt.Sprintf("%s/%d", short, size), func(b *testing.B) {
				for b.Loop() {
					if _, err := RenderPNG(payloads[name], size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkPNGCacheHit(b *testing.B) {
	payload := pngTestPayloads(b)["dynamic order"]
	c := NewPNGCache(0)
	if _, err := c.Render(payload, 512); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Render(payload, 512); err != nil {
				b.Fatal(err)
			}
		}
	})
}
