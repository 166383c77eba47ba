package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/pgserver"
)

// versionUnknown is what version prints for anything it cannot find out.
const versionUnknown = "desconocida"

// buildVersion is what the binary knows about itself.
type buildVersion struct {
	// Version is the release: -ldflags -X main.version, else the module version, else "devel".
	Version string
	// Commit is the VCS revision: -ldflags -X main.commit, else the build's vcs.revision.
	Commit string
	// Time is the commit's time (vcs.time), when known.
	Time string
	// Go is the toolchain that built the binary.
	Go string
}

// readBuildVersion fills a buildVersion from the -ldflags overrides and the build information.
func readBuildVersion(version, commit string) buildVersion {
	v := buildVersion{Version: version, Commit: commit, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		v.Go = info.GoVersion
		if v.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		var revision, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				v.Time = s.Value
			}
		}
		if v.Commit == "" && revision != "" {
			v.Commit = revision[:min(12, len(revision))]
			if modified == "true" {
				v.Commit += "-dirty"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "desconocido"
	}
	return v
}

// printVersion writes the version report. The PostgreSQL lookups take at most a few seconds.
func printVersion(ctx context.Context, a *app, out io.Writer) {
	v := a.build
	fmt.Fprintf(out, "appcitas %s\n", v.Version)
	if v.Time != "" {
		fmt.Fprintf(out, "commit: %s (%s)\n", v.Commit, v.Time)
	} else {
		fmt.Fprintf(out, "commit: %s\n", v.Commit)
	}
	fmt.Fprintf(out, "Go: %s %s/%s\n", v.Go, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(out, "PostgreSQL: %s\n", postgresVersion(ctx, a))
}

// postgresVersion returns the configured server's version, else the installed binaries', else
// "desconocida", each labelled with where it came from. The embedded cluster is not started.
func postgresVersion(ctx context.Context, a *app) string {
	if a.cfg.DatabaseURL != "" {
		v, err := serverVersion(ctx, a.cfg.DatabaseURL)
		if err == nil {
			return v + " (servidor configurado)"
		}
		a.log.Info("the configured PostgreSQL server did not answer", "err", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := pgserver.InstalledVersion(ctx)
	if err != nil {
		a.log.Info("no installed PostgreSQL binaries answered", "err", err)
		return versionUnknown
	}
	return v + " (binarios instalados)"
}

// serverVersion asks the server at url for its server_version, within three seconds.
func serverVersion(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if v := conn.PgConn().ParameterStatus("server_version"); v != "" {
		return strings.Fields(v)[0], nil
	}
	return "", fmt.Errorf("the server did not report server_version")
}
