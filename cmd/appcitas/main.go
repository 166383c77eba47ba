// Command appcitas serves the appointment API and manages one PostgreSQL schema per organization.
// See README.md, or run `appcitas --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // IANA time zones even on machines without /usr/share/zoneinfo

	"github.com/appcitas/appcitas/internal/cli"
)

// version and commit are set at link time:
// go build -ldflags "-X main.version=1.4.0 -X main.commit=$(git rev-parse --short HEAD)" ./cmd/appcitas.
// Empty, `appcitas version` reads the build information instead.
var version, commit string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		Version: version, Commit: commit})
	stop()
	os.Exit(code)
}
