// Package barcode draws one-dimensional barcodes: Code 128 (ISO/IEC
// 15417), the symbology cashiers' scanners read a customer's payment code
// from.
package barcode

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	"github.com/qrpay/qrpay/errs"
)

// patterns are the Code 128 symbols by value: the widths, in modules, of
// alternating bars and spaces (bar first). 103–105 are the start symbols
// of code sets A, B and C; 106 is the stop symbol, with its final bar.
var patterns = [107]string{
	"212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
	"221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
	"221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
	"212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
	"231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
	"231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
	"314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
	"112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
	"111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
	"214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
	"114131", "311141", "411131", "211412", "211214", "211232", "2331112",
}

const (
	startB = 104
	startC = 105
	stop   = 106
	// quiet is the blank margin on each side, in modules: the standard's
	// minimum is ten.
	quiet = 10
)

// Symbols encodes text as Code 128 symbol values, start and check symbol
// included, stop excluded. An even-length run of digits uses code set C
// (two digits a symbol: 18 digits take 9); anything else code set B, which
// holds printable ASCII.
func Symbols(text string) ([]int, error) {
	if text == "" || len(text) > 80 {
		return nil, errs.E(errs.Invalid, "a barcode holds 1 to 80 characters")
	}
	digits := len(text)%2 == 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x20 || c > 0x7e {
			return nil, errs.E(errs.Invalid, "a barcode holds printable ASCII only")
		}
		if c < '0' || c > '9' {
			digits = false
		}
	}
	var syms []int
	if digits {
		syms = append(syms, startC)
		for i := 0; i < len(text); i += 2 {
			syms = append(syms, int(text[i]-'0')*10+int(text[i+1]-'0'))
		}
	} else {
		syms = append(syms, startB)
		for i := 0; i < len(text); i++ {
			syms = append(syms, int(text[i])-0x20)
		}
	}
	// The check symbol: the start value plus each symbol times its
	// position, modulo 103.
	sum := syms[0]
	for i, v := range syms[1:] {
		sum += (i + 1) * v
	}
	return append(syms, sum%103), nil
}

// Modules returns the barcode of text as modules, true for a bar, with the
// quiet zones.
func Modules(text string) ([]bool, error) {
	syms, err := Symbols(text)
	if err != nil {
		return nil, err
	}
	mods := make([]bool, quiet, quiet+11*len(syms)+13+quiet)
	for _, v := range append(syms, stop) {
		bar := true
		for _, w := range patterns[v] {
			for range int(w - '0') {
				mods = append(mods, bar)
			}
			bar = !bar
		}
	}
	return append(mods, make([]bool, quiet)...), nil
}

// PNG draws the Code 128 barcode of text, black on white, module pixels
// wide per module and height pixels high.
func PNG(text string, module, height int) ([]byte, error) {
	if module < 1 || module > 8 || height < 10 || height > 600 {
		return nil, errs.E(errs.Invalid, "a barcode module is 1 to 8 pixels wide and its height 10 to 600 pixels")
	}
	mods, err := Modules(text)
	if err != nil {
		return nil, err
	}
	img := image.NewPaletted(image.Rect(0, 0, len(mods)*module, height), color.Palette{color.White, color.Black})
	for i, bar := range mods {
		if !bar {
			continue
		}
		for x := i * module; x < (i+1)*module; x++ {
			for y := range height {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
