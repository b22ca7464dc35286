package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/qrpay/qrpay/sdk"
)

const settlementUsage = `Usage:
  qrpay settlement list [-from YYYY-MM-DD] [-to YYYY-MM-DD]
  qrpay settlement download -date YYYY-MM-DD [-o FILE]

list prints the merchant's settled days, newest first, with their totals and checksums.
download saves a day's settlement file (CSV). It streams into a temporary file beside the
target, checks its SHA-256 against the checksum the gateway sent (ETag), and only then renames
it into place, so a file that is there is the one the gateway vouched for; on a mismatch it
exits 1 and leaves nothing behind. The file is named as the gateway names it
(Content-Disposition), else qrpay-settlement-DATE.csv; -o FILE (or a directory) chooses. It
is saved readable by its owner only, since it lists the merchant's sales. A progress bar is
shown on stderr when stderr is a terminal. The key needs the finance scope. (The operator
settles days with 'qrpay settle'.)

` + credentialsHelp

// runSettlement is the finance team's command line: settled days and their
// files, through the SDK.
func runSettlement(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, settlementUsage)
		return nil
	}
	verb, args := args[0], args[1:]
	fs := newFlagSet("settlement "+verb, settlementUsage, stderr)
	creds := addCredentialFlags(fs)
	switch verb {
	case "list":
		from := fs.String("from", "", "first business day, YYYY-MM-DD")
		to := fs.String("to", "", "last business day, YYYY-MM-DD")
		if err := fs.Parse(args); err != nil {
			return helpOrErr(err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), settlementUsage)
		}
		client, err := creds.client()
		if err != nil {
			return err
		}
		list := []*sdk.Settlement{}
		for s, err := range client.ListSettlements(ctx, &sdk.ListSettlementsParams{From: *from, To: *to, Limit: 100}) {
			if err != nil {
				return explain(err)
			}
			list = append(list, s)
		}
		return printJSON(stdout, list)
	case "download":
		date := fs.String("date", "", "business day, YYYY-MM-DD (required)")
		out := fs.String("o", "", "where to save the file, or a directory (default: the gateway's file name, here)")
		if err := fs.Parse(args); err != nil {
			return helpOrErr(err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), settlementUsage)
		}
		if _, err := time.Parse(time.DateOnly, *date); err != nil {
			return fmt.Errorf("-date %q: want YYYY-MM-DD", *date)
		}
		return downloadSettlement(ctx, creds, *date, *out, stdout, stderr)
	}
	return fmt.Errorf("unknown settlement command %q\n\n%s", verb, settlementUsage)
}

// downloaded is what download prints.
type downloaded struct {
	Path   string `json:"path"`
	Date   string `json:"date"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func downloadSettlement(ctx context.Context, creds *credentials, date, out string, stdout, stderr io.Writer) error {
	headers := &fileHeaders{next: http.DefaultTransport}
	// A longer timeout than the SDK's 30 s, so that a large file can finish.
	client, err := creds.client(sdk.WithHTTPClient(&http.Client{Transport: headers, Timeout: 10 * time.Minute}))
	if err != nil {
		return err
	}
	// The settlement first: an unsettled day fails before any file exists,
	// and its size drives the progress bar.
	st, err := client.GetSettlement(ctx, date)
	if err != nil {
		return explain(err)
	}
	dir, target := ".", out
	if out != "" {
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			dir, target = out, ""
		} else {
			dir = filepath.Dir(out)
		}
	}
	// Beside the target, so that the final rename stays on one file
	// system and is atomic.
	tmp, err := os.CreateTemp(dir, ".qrpay-settlement-"+date+"-*.part")
	if err != nil {
		return err
	}
	kept := false
	defer func() {
		if !kept {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = tmp
	var bar *progressbar.ProgressBar
	if isTerminal(stderr) {
		bar = newDownloadBar(stderr, st.FileSize, "settlement "+date)
		w = io.MultiWriter(tmp, bar)
	}
	n, sum, err := client.DownloadSettlement(ctx, date, w)
	if bar != nil {
		if err == nil {
			_ = bar.Finish()
		} else {
			_ = bar.Exit()
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, sdk.ErrChecksumMismatch):
		return fmt.Errorf("%w; the download was discarded, nothing was saved", err)
	case err != nil:
		return explain(err)
	case !strings.EqualFold(sum, st.SHA256):
		return fmt.Errorf("%w: settlement %s: received %s, but the settlement says %s; nothing was saved",
			sdk.ErrChecksumMismatch, date, sum, st.SHA256)
	}
	if target == "" {
		target = filepath.Join(dir, settlementFileName(headers.contentDisposition(), date))
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	kept = true
	if abs, err := filepath.Abs(target); err == nil {
		target = abs
	}
	return printJSON(stdout, downloaded{Path: target, Date: date, Size: n, SHA256: sum})
}

// settlementFileName is the file name the gateway gave in
// Content-Disposition, if it is a plain name (no directory, nothing
// hidden), else qrpay-settlement-DATE.csv.
func settlementFileName(contentDisposition, date string) string {
	fallback := "qrpay-settlement-" + date + ".csv"
	_, params, err := mime.ParseMediaType(contentDisposition)
	if err != nil {
		return fallback
	}
	name := params["filename"]
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`+"\x00") || name != filepath.Base(name) {
		return fallback
	}
	return name
}

// fileHeaders is a transport that keeps the Content-Disposition of the
// last settlement file response: the SDK streams the body into a writer
// and returns no headers.
type fileHeaders struct {
	next http.RoundTripper
	mu   sync.Mutex
	cd   string
}

func (f *fileHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/file") && resp.StatusCode == http.StatusOK {
		f.mu.Lock()
		f.cd = resp.Header.Get("Content-Disposition")
		f.mu.Unlock()
	}
	return resp, err
}

func (f *fileHeaders) contentDisposition() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cd
}

// isTerminal says whether w is a terminal, where a progress bar helps
// rather than litters a log.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newDownloadBar is a byte-counting progress bar on w; size -1 or 0 shows
// a spinner instead.
func newDownloadBar(w io.Writer, size int64, what string) *progressbar.ProgressBar {
	if size <= 0 {
		size = -1
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(65*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
