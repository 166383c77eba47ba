package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestFleetBar(t *testing.T) {
	t.Parallel()

	t.Run("CountsTenantsAndFailures", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		bar := newFleetBar(&out, 3)
		bar.add()
		bar.fail("  ✗ Barbería Juan (schema: tenant_x): boom")
		bar.add()
		bar.add()
		bar.finish()
		got := out.String()
		for _, want := range []string{"[", "3/3", "(✗ 1)", "  ✗ Barbería Juan (schema: tenant_x): boom\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("output lacks %q:\n%q", want, got)
			}
		}
		if !strings.HasSuffix(got, "\n\n") {
			t.Errorf("output does not end with a blank line: %q", got)
		}
	})

	t.Run("DevNullIsNotATerminal", func(t *testing.T) {
		t.Parallel()
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if isTerminal(f) {
			t.Fatal("/dev/null taken for a terminal: the bar would be drawn into it")
		}
	})

	t.Run("BufferIsNotATerminal", func(t *testing.T) {
		t.Parallel()
		if isTerminal(&bytes.Buffer{}) {
			t.Fatal("a buffer taken for a terminal")
		}
	})
}
