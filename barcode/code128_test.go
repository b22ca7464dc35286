package barcode

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPatternsAreElevenModules(t *testing.T) {
	for v, p := range patterns {
		want := 11
		if v == stop {
			want = 13
		}
		sum := 0
		for _, w := range p {
			sum += int(w - '0')
		}
		if sum != want {
			t.Errorf("pattern %d (%s) is %d modules; want %d", v, p, sum, want)
		}
	}
}

func TestSymbols(t *testing.T) {
	tests := []struct {
		text string
		want []int
	}{
		// Code set C: start 105, pairs of digits, check (105+1*12+2*34+3*56) % 103 = 44.
		{"123456", []int{105, 12, 34, 56, 44}},
		// Code set B: "PJJ123C" is the standard's worked example, check (104+48+2*42+3*42+4*17+5*18+6*19+7*35) % 103 = 55.
		{"PJJ123C", []int{104, 48, 42, 42, 17, 18, 19, 35, 55}},
		// Odd digit count: code set B.
		{"123", []int{104, 17, 18, 19, (104 + 17 + 2*18 + 3*19) % 103}},
	}
	for _, tt := range tests {
		got, err := Symbols(tt.text)
		if err != nil {
			t.Fatalf("Symbols(%q): %v", tt.text, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Symbols(%q) = %v; want %v", tt.text, got, tt.want)
		}
	}
	for _, bad := range []string{"", "caf\u00e9", "tab\there", strings.Repeat("1", 81)} {
		if _, err := Symbols(bad); err == nil {
			t.Errorf("Symbols(%q) = nil error; want one", bad)
		}
	}
}

// TestPNGRoundTripsThroughZbar draws barcodes and reads them back with
// zbar's reader (zbar-tools, installed by .ci/test-deps): the image is
// right only if a real scanner reads the same text.
func TestPNGRoundTripsThroughZbar(t *testing.T) {
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("the barcode round trip needs zbarimg: run `make test-deps` (or apt-get install zbar-tools): %v", err)
	}
	dir := t.TempDir()
	for i, text := range []string{"280001042712345678", "280000001000000000", "PJJ123C", "Order 42/x"} {
		for _, module := range []int{2, 3, 4} {
			b, err := PNG(text, module, 80)
			if err != nil {
				t.Fatalf("PNG(%q): %v", text, err)
			}
			file := filepath.Join(dir, strings.Repeat("b", i+1)+string(rune('0'+module))+".png")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(path, "--quiet", "--raw", "-Sdisable", "-Scode128.enable", file)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("zbarimg %s (%q, module %d): %v\n%s", file, text, module, err, stderr.Bytes())
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != text {
				t.Errorf("zbar read %q from the barcode of %q (module %d)", got, text, module)
			}
		}
	}
}
