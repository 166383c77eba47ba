package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// fleetBar is migrate_all_tenants' progress bar on a terminal: "[#####.....] 50/100 (✗ 1)".
type fleetBar struct {
	out    io.Writer
	bar    *progressbar.ProgressBar
	failed int
}

// newFleetBar draws an empty bar for total tenants on out.
func newFleetBar(out io.Writer, total int) *fleetBar {
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(40),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSetTheme(progressbar.Theme{Saucer: "#", SaucerPadding: ".", BarStart: "[", BarEnd: "]"}),
	)
	return &fleetBar{out: out, bar: bar}
}

// add counts one tenant done.
func (b *fleetBar) add() { _ = b.bar.Add(1) }

// fail prints line above the bar and counts one failure in its description.
func (b *fleetBar) fail(line string) {
	b.failed++
	_ = b.bar.Clear()
	fmt.Fprintln(b.out, line)
	b.bar.Describe(fmt.Sprintf("(✗ %d)", b.failed))
}

// finish leaves the bar's last state on its line and a blank line under it.
func (b *fleetBar) finish() {
	_ = b.bar.Finish()
	fmt.Fprint(b.out, "\n\n")
}

// isTerminal reports whether w is a terminal, for the progress bar. /dev/null and pipes are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
