package qrpay_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/qrpay/qrpay"

// pkg is what `go list -json` says of one package: its direct imports and
// everything it depends on (tests excluded).
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// rule is one import rule of DESIGN.md §4. from and to are package paths
// relative to the module ("" is the module itself); a trailing "/..." takes
// the package and everything under it.
type rule struct {
	why    string
	from   []string // packages the rule applies to
	except []string // of those, the ones it does not
	to     []string // what they must not depend on
}

var rules = []rule{
	{why: "gateway/ is the HTTP edge: only cmd/ builds on it",
		from: []string{"..."}, except: []string{"gateway/...", "cmd/..."}, to: []string{"gateway/..."}},
	{why: "merchant and wallet know nothing of each other; payment coordinates them",
		from: []string{"merchant/..."}, to: []string{"wallet/...", "payment/..."}},
	{why: "merchant and wallet know nothing of each other; payment coordinates them",
		from: []string{"wallet/..."}, to: []string{"merchant/...", "payment/..."}},
	{why: "the ledger is the core the domains use, not the other way round",
		from: []string{"ledger/..."}, to: []string{"wallet/...", "merchant/...", "payment/...", "settlement/..."}},
	{why: "settlement reads the ledger and the merchant's records, not the wallet or payments",
		from: []string{"settlement/..."}, to: []string{"wallet/...", "merchant/...", "payment/..."}},
	{why: "plumbing serves the domains and imports none of them",
		from: []string{"errs/...", "money/...", "postgres/...", "breaker/...", "idem/...", "limits/...", "otp/...", "ratelimit/...", "testenv/...", "spreadsheet/...", "barcode/..."},
		to:   []string{"ledger/...", "wallet/...", "merchant/...", "payment/...", "settlement/..."}},
	{why: "the risk rules judge plain facts: they know no wallet, merchant or ledger",
		from: []string{"risk/..."}, to: []string{"wallet/...", "merchant/...", "payment/...", "ledger/...", "settlement/...", "notice/..."}},
	{why: "announcements and maintenance are the operator's, above no domain",
		from: []string{"notice/..."}, to: []string{"wallet/...", "merchant/...", "payment/...", "ledger/...", "settlement/...", "risk/..."}},
	{why: "the SDKs speak to the gateway over HTTP only, with the standard library",
		from: []string{"sdk/..."}, to: []string{"..."}},
	{why: "the load generator drives the public API only",
		from: []string{"loadtest/..."}, to: []string{"..."}},
}

// allowedWithin lists module packages a rule's "to" of "..." leaves out
// for some packages: the SDKs may use the SDK, the load generator may too.
var allowedWithin = map[string][]string{
	"sdk/...":      {"sdk/..."},
	"loadtest/...": {"sdk/..."},
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; want the whole module", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
	// Every package a rule names must exist, or the rule checks nothing.
	for _, r := range rules {
		for _, p := range append(slices.Clone(r.from), r.to...) {
			if !slices.ContainsFunc(pkgs, func(q pkg) bool { return matches(p, rel(q.ImportPath)) }) {
				t.Errorf("rule %q names %s, which matches no package", r.why, p)
			}
		}
	}
}

// TestImportRulesCatchViolations feeds the rules a graph that breaks them.
func TestImportRulesCatchViolations(t *testing.T) {
	bad := []pkg{
		{ImportPath: module + "/merchant", Imports: []string{module + "/wallet"}, Deps: []string{module + "/wallet"}},
		{ImportPath: module + "/wallet"},
		{ImportPath: module + "/settlement", Deps: []string{module + "/gateway/gatewaytest", module + "/gateway"}},
		{ImportPath: module + "/sdk", Deps: []string{"fmt", module + "/errs"}},
		{ImportPath: module + "/errs"},
		{ImportPath: "fmt", Standard: true},
		{ImportPath: module + "/refunds", Imports: []string{module + "/merchant", module + "/wallet"}},
	}
	got := violations(bad)
	for _, want := range []string{"merchant depends on wallet", "settlement depends on gateway/gatewaytest",
		"settlement depends on gateway", "sdk depends on errs", "refunds imports both merchant and wallet"} {
		if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, want) }) {
			t.Errorf("violations = %q; want one saying %q", got, want)
		}
	}
	if slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, "fmt") }) {
		t.Errorf("violations = %q; the standard library is always allowed", got)
	}
}

func violations(pkgs []pkg) []string {
	std := map[string]bool{}
	for _, p := range pkgs {
		if p.Standard {
			std[p.ImportPath] = true
		}
	}
	var out []string
	for _, p := range pkgs {
		if p.Standard || !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		from := rel(p.ImportPath)
		// Payment is the one domain package that coordinates a wallet and a
		// merchant; above it only the edge and the binaries see both.
		if slices.Contains(p.Imports, module+"/merchant") && slices.Contains(p.Imports, module+"/wallet") &&
			!matchesAny([]string{"payment", "gateway/...", "cmd/..."}, from) {
			out = append(out, display(from)+" imports both merchant and wallet: only payment coordinates them")
		}
		for _, r := range rules {
			if !matchesAny(r.from, from) || matchesAny(r.except, from) {
				continue
			}
			for _, d := range p.Deps {
				if !strings.HasPrefix(d, module) {
					continue // the standard library and third-party modules
				}
				to := rel(d)
				if !matchesAny(r.to, to) || to == from {
					continue
				}
				if allowed := allowedFor(from); matchesAny(allowed, to) {
					continue
				}
				out = append(out, display(from)+" depends on "+display(to)+": "+r.why)
			}
		}
	}
	return out
}

func allowedFor(from string) []string {
	var out []string
	for k, v := range allowedWithin {
		if matches(k, from) {
			out = append(out, v...)
		}
	}
	return out
}

func rel(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
}

func display(p string) string {
	if p == "" {
		return "(module root)"
	}
	return p
}

func matchesAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return matches(pat, p) })
}

// matches reports whether package p (relative) matches pattern: "..." is
// every package, "x/..." is x and everything under it, anything else is
// itself.
func matches(pattern, p string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps,Standard", "./...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
