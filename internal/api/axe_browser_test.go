package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The vendored accessibility checker: axe-core's built axe.min.js of one pinned version
// (testdata/axe/README.md says where it comes from and how to update it).
const (
	axeVersion = "4.14.1"
	// axeSRI is the file's SHA-256 as axe-core's sri-history.json publishes it for axeVersion.
	axeSRI = "sha256-KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="
)

// axeFile is the vendored axe-core, relative to this package's directory.
var axeFile = filepath.Join("testdata", "axe", "axe.min.js")

// TestAxeVendored keeps the vendored axe-core from drifting: the file must be the pinned version's
// published build, and its README must name that version.
func TestAxeVendored(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("MatchesThePinnedVersionsChecksum", func(t *testing.T) {
		sum := sha256.Sum256(src)
		if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != axeSRI {
			t.Errorf("%s has checksum %s, want %s (axe-core %s): copy it unchanged from npm pack axe-core@%s", axeFile, got, axeSRI, axeVersion, axeVersion)
		}
	})
	t.Run("HeaderNamesThePinnedVersion", func(t *testing.T) {
		if want := "/*! axe v" + axeVersion + "\n"; !strings.HasPrefix(string(src), want) {
			t.Errorf("%s does not start with %q", axeFile, want)
		}
	})
	t.Run("ReadmeAndLicenceNameTheVersion", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join("testdata", "axe", "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"axe-core " + axeVersion, "axe-core@" + axeVersion, axeSRI, "Mozilla Public License 2.0"} {
			if !strings.Contains(string(readme), want) {
				t.Errorf("testdata/axe/README.md lacks %q", want)
			}
		}
		licence, err := os.ReadFile(filepath.Join("testdata", "axe", "LICENSE"))
		if err != nil || !strings.HasPrefix(string(licence), "Mozilla Public License, version 2.0") {
			t.Errorf("testdata/axe/LICENSE is not the MPL-2.0 text (err %v)", err)
		}
	})
}

// axeViolation is one rule that axe found broken, with the elements that break it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// axeRun runs axe over the whole document and keeps the serious and critical violations. It
// answers a JSON array, so that the Go side reads it with one Evaluate.
const axeRun = `axe.run(document, { resultTypes: ['violations'] }).then((r) => JSON.stringify(r.violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(' '), html: n.html.slice(0, 200), summary: n.failureSummary || '' })) }))))`

// axeCheck runs the vendored axe-core over the page as it is now and fails t on every violation
// of impact serious or critical, naming the rule, the elements and the rule's help page. label
// names the page's state in the failure. The check only reads the page: it can run at any point
// of a test, on any page of the server.
func (b *appBrowser) axeCheck(t *testing.T, label string) {
	t.Helper()
	violations, err := b.axeViolations()
	if err != nil {
		t.Fatalf("axe (%s): %v", label, err)
	}
	for _, v := range violations {
		var nodes strings.Builder
		for _, n := range v.Nodes {
			fmt.Fprintf(&nodes, "\n    %s  %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
		}
		t.Errorf("axe (%s): %s violation %q: %s (%s)%s", label, v.Impact, v.ID, v.Help, v.HelpURL, nodes.String())
	}
}

// axeViolations injects axe-core into the page when it is not there yet and answers the serious
// and critical violations of the whole document. axe is injected through the DevTools protocol
// (Runtime evaluate), which the page's Content-Security-Policy does not govern, so the page keeps
// its CSP.
func (b *appBrowser) axeViolations() ([]axeViolation, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object' && typeof window.axe.run === 'function'`))
	if err != nil {
		return nil, fmt.Errorf("looking for axe in the page: %w", err)
	}
	if !loaded {
		src, err := os.ReadFile(axeFile)
		if err != nil {
			return nil, err
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](string(src))); err != nil {
			return nil, fmt.Errorf("injecting axe-core %s: %w", axeVersion, err)
		}
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe: %w", err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		return nil, fmt.Errorf("reading axe's answer: %w", err)
	}
	return violations, nil
}
