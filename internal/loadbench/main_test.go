package loadbench

import (
	"flag"
	"os"
	"testing"

	"github.com/appcitas/appcitas/internal/pgtest"
)

// TestMain starts a throwaway PostgreSQL cluster only when a benchmark was asked for (-bench) or
// APPCITAS_LOADBENCH=1 is set, so that go test ./... costs nothing here.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); (f == nil || f.Value.String() == "") && os.Getenv("APPCITAS_LOADBENCH") != "1" {
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m))
}
