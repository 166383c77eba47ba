package loadbench

// Paired runs (APPCITAS_LOADBENCH_PAIRED=1). This machine's pace drifts by a fifth or more within
// minutes, whatever runs on it (BENCHMARKS.md, issue 3: the same fleet of 10 tenants went from
// 2,650 to 3,320 req/s between two repetitions a minute apart), so that a latency ratio between
// a fleet measured in one stretch of time and another fleet measured in the next says as much about
// the drift as about the fleets. Paired runs serve every fleet at once, each from an API server
// process of its own (so that one fleet's caches are not in the other's Go heap), and measure them
// in turns, in alternating order, within each repetition: the ratio of each repetition compares
// runs made within a minute of each other, and the report gives their median.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/api"
	"github.com/appcitas/appcitas/internal/cli"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// serveEnvURL, set in a server process's environment, is the database of the fleet it serves.
const serveEnvURL = "APPCITAS_LOADBENCH_SERVE_URL"

// benchmarkPaired builds (or reuses) every fleet, serves each from its own process, and measures
// the endpoints on all of them in turns.
func benchmarkPaired(b *testing.B, sum *summary) {
	if wrkPath(b) == "" {
		b.Fatal("APPCITAS_LOADBENCH_PAIRED=1 needs wrk (apt-get install wrk): the load cannot come from this process")
	}
	var fleets []*fleet
	for _, n := range slices.Sorted(slices.Values(envTenants)) {
		f := buildFleet(b, n)
		sum.addFleet(n, f.buildTook)
		fleets = append(fleets, f)
	}
	for _, ep := range endpoints {
		b.Run("paired/"+ep.name, func(b *testing.B) {
			for b.Loop() {
				rs, ratios, windowRatios := measurePaired(b, fleets, ep)
				for i, f := range fleets {
					sum.add(f.n, ep.name, rs[i])
				}
				sum.addRatios(ep.name, ratios, windowRatios)
				if len(ratios) > 0 {
					b.ReportMetric(median(ratios), "p50_ratio")
				}
			}
		})
	}
	// serve's memory after the runs: the live heap after a collection, and what the runtime holds.
	for _, f := range fleets {
		if f.proc == nil {
			continue
		}
		file := ""
		if envProfileDir != "" {
			file = filepath.Join(envProfileDir, fmt.Sprintf("heap-%d.pprof", f.n))
		}
		b.Logf("serve's memory at %d tenants after the runs: %s", f.n, f.proc.query(b, strings.TrimSpace("heap "+file)))
	}
	sum.print(b)
}

// measurePaired warms every fleet up, then in each repetition runs the measured HTTP run of each
// fleet in turn (smallest first in odd repetitions, largest first in even ones), each after a
// settle run, then pgbench on each. With APPCITAS_LOADBENCH_WINDOW, the measured runs are cut into
// windows that alternate between the fleets instead (measureWindows). It returns the fleets'
// results, per repetition the p50 at the largest fleet over the p50 at the smallest (with windows:
// the median of the repetition's window pairs), and the ratio of every window pair.
func measurePaired(b *testing.B, fleets []*fleet, ep endpoint) (rs []result, ratios, windowRatios []float64) {
	for _, f := range fleets {
		warmUp(b, f, ep)
	}
	rs = make([]result, len(fleets))
	for rep := range envReps {
		order := make([]int, len(fleets))
		for i := range order {
			order[i] = i
		}
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		var pairs []float64
		if envWindowSecs > 0 {
			for _, i := range order {
				settle(b, fleets[i], ep)
			}
			var reps []httpRep
			reps, pairs = measureWindows(b, fleets, ep, rep)
			for i := range fleets {
				rs[i].addHTTP(reps[i])
			}
			windowRatios = append(windowRatios, pairs...)
		} else {
			for _, i := range order {
				settle(b, fleets[i], ep)
				rs[i].addHTTP(measureHTTP(b, fleets[i], ep, rep))
			}
		}
		for i, f := range fleets {
			rs[i].addPgbench(b, f, ep, rep)
		}
		lo, hi := rs[0].httpReps[rep], rs[len(rs)-1].httpReps[rep]
		ratio := hi.p50ms / lo.p50ms
		if len(pairs) > 0 {
			ratio = median(pairs)
		}
		ratios = append(ratios, ratio)
		b.Logf("rep %d, %s: p50 %.2f ms at %d tenants, %.2f ms at %d: %.2f×", rep+1, ep.name, hi.p50ms, fleets[len(fleets)-1].n,
			lo.p50ms, fleets[0].n, ratio)
	}
	for i := range rs {
		rs[i].finish()
	}
	return rs, ratios, windowRatios
}

// measureWindows is repetition rep's measured HTTP run of every fleet, cut into windows of
// APPCITAS_LOADBENCH_WINDOW seconds: window pair w runs one window of each fleet back to back
// (smallest first when rep+w is even, largest first when odd), APPCITAS_LOADBENCH_SECONDS worth
// of windows per fleet. A drift of the machine then falls on both sides of a pair, a few seconds
// apart, instead of on one fleet's turn of 10 s a minute away from the other's. It returns each
// fleet's run (requests and rate over all its windows; p50 and p99 the medians of its windows')
// and, per pair, the p50 at the largest fleet over the p50 at the smallest.
func measureWindows(b *testing.B, fleets []*fleet, ep endpoint, rep int) ([]httpRep, []float64) {
	window := time.Duration(envWindowSecs) * time.Second
	pace := time.Duration(envPaceMS) * time.Millisecond
	before := make([]counters, len(fleets))
	for i, f := range fleets {
		before[i] = dbCounters(b, f)
	}
	windows := make([][]rate, len(fleets))
	var ratios []float64
	for w := range max(1, envHTTPSecs/envWindowSecs) {
		order := make([]int, len(fleets))
		for i := range order {
			order[i] = i
		}
		if (rep+w)%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			windows[i] = append(windows[i], runHTTP(b, fleets[i], ep, window, "", pace))
		}
		lo, hi := windows[0][w], windows[len(fleets)-1][w]
		ratios = append(ratios, hi.p50ms/lo.p50ms)
	}
	time.Sleep(600 * time.Millisecond) // let backends flush their statistics
	reps := make([]httpRep, len(fleets))
	for i, f := range fleets {
		r := combineWindows(windows[i])
		if r.errors > 0 {
			b.Errorf("%s, %d tenants: %d of %d requests failed", ep.name, f.n, r.errors, r.n)
		}
		after := dbCounters(b, f)
		reps[i] = httpRep{rate: r, lookups: float64(after.orgScans-before[i].orgScans) / float64(r.n),
			xacts: float64(after.xacts-before[i].xacts) / float64(r.n)}
	}
	b.Logf("rep %d, %s: window pairs' p50 ratios %s", rep+1, ep.name, formatRatios(ratios))
	return reps, ratios
}

// combineWindows is one run made of windows: their requests, their rate over their total time, and
// the medians of their p50s and p99s.
func combineWindows(ws []rate) rate {
	var r rate
	var secs float64
	var p50s, p99s []float64
	for _, w := range ws {
		r.n += w.n
		r.errors += w.errors
		if w.rps > 0 {
			secs += float64(w.n) / w.rps
		}
		p50s, p99s = append(p50s, w.p50ms), append(p99s, w.p99ms)
	}
	if secs > 0 {
		r.rps = float64(r.n) / secs
	}
	r.p50ms, r.p99ms = median(p50s), median(p99s)
	return r
}

// formatRatios writes ratios with two decimals, comma-separated.
func formatRatios(v []float64) string {
	parts := make([]string, len(v))
	for i, r := range v {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, ", ")
}

func (s *summary) addRatios(ep string, ratios, windowRatios []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ratios == nil {
		s.ratios, s.windowRatios = map[string][]float64{}, map[string][]float64{}
	}
	s.ratios[ep], s.windowRatios[ep] = ratios, windowRatios
}

// serverProc is an API server in a process of its own: this test binary running TestServeFleet.
// It takes commands on its standard input, one a line ("profile <file>" starts a CPU profile,
// "stop" ends it), answers each with "ok" or "error: …", and exits when its input closes.
type serverProc struct {
	base  string
	in    io.WriteCloser
	out   *bufio.Reader
	cmd   *exec.Cmd
	owner *testing.B
}

// startServerProcess starts the server process for f and waits until it listens.
func startServerProcess(b *testing.B, f *fleet) *serverProc {
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeFleet$", "-test.count=1", "-test.timeout=0")
	// APPCITAS_LOADBENCH empty: the process starts no cluster of its own (TestMain).
	cmd.Env = append(os.Environ(), serveEnvURL+"="+f.url, "APPCITAS_LOADBENCH=")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting the server process of %d tenants: %v", f.n, err)
	}
	p := &serverProc{in: in, out: bufio.NewReader(outPipe), cmd: cmd, owner: b}
	b.Cleanup(p.close)
	line, err := p.out.ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		b.Fatalf("the server process of %d tenants did not start: %q %v", f.n, line, err)
	}
	p.base = base
	b.Logf("%d tenants served by process %d at %s", f.n, cmd.Process.Pid, base)
	return p
}

// command sends one command and waits for its answer.
func (p *serverProc) command(b *testing.B, c string) {
	if _, err := io.WriteString(p.in, c+"\n"); err != nil {
		b.Fatalf("server process: %v", err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ok" {
		b.Fatalf("server process, %q: %q %v", c, line, err)
	}
}

// query sends command c and returns what the process answered after "ok ", or why it did not.
func (p *serverProc) query(b *testing.B, c string) string {
	if _, err := io.WriteString(p.in, c+"\n"); err != nil {
		b.Fatalf("server process: %v", err)
	}
	line, err := p.out.ReadString('\n')
	answer, ok := strings.CutPrefix(strings.TrimSpace(line), "ok ")
	if err != nil || !ok {
		return fmt.Sprintf("(no answer to %q: %q %v)", c, line, err)
	}
	return answer
}

// close ends the process (its input closes) and waits for it, 30 s at most.
func (p *serverProc) close() {
	_ = p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.owner.Errorf("server process %d: %v", p.cmd.Process.Pid, err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		p.owner.Errorf("server process %d did not end within 30 s of its input closing; killed", p.cmd.Process.Pid)
	}
}

// startProfile starts the CPU profile of f's server into file and returns what stops it.
func startProfile(b *testing.B, f *fleet, file string) (stop func()) {
	if f.proc != nil {
		f.proc.command(b, "profile "+file)
		return func() { f.proc.command(b, "stop") }
	}
	out, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := out.Close(); err != nil {
			b.Error(err)
		}
	}
}

// TestServeFleet is not a test: it is the server process of a paired benchmark run, and skips
// unless APPCITAS_LOADBENCH_SERVE_URL names the fleet's database. It serves the API over that
// database as serveFleet does in the benchmark's own process, prints "listening <URL>", and
// obeys serverProc's commands until its input closes.
func TestServeFleet(t *testing.T) {
	url := os.Getenv(serveEnvURL)
	if url == "" {
		t.Skip("the server process of a paired benchmark run (" + serveEnvURL + " is not set)")
	}
	cli.TuneGC(os.Getenv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: url}, Pool: poolOptions(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := apiConfig()
	withBilling(ctx, t, m, &cfg)
	h, err := api.New(ctx, m, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening http://%s\n", ln.Addr())

	var prof *os.File
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		var err error
		switch {
		case cmd == "profile" && prof == nil && arg != "":
			if prof, err = os.Create(arg); err == nil {
				if err = pprof.StartCPUProfile(prof); err != nil {
					prof.Close()
					prof = nil
				}
			}
		case cmd == "heap":
			// The live heap after a collection, and what the runtime holds; with a file, a heap
			// profile too.
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if arg != "" {
				var f *os.File
				if f, err = os.Create(arg); err == nil {
					err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
				}
			}
			if err == nil {
				fmt.Printf("ok live heap %.1f MB, runtime holds %.1f MB\n", float64(ms.HeapAlloc)/(1<<20), float64(ms.Sys)/(1<<20))
				continue
			}
		case cmd == "stop" && prof != nil:
			pprof.StopCPUProfile()
			err = prof.Close()
			prof = nil
		default:
			err = fmt.Errorf("unknown command %q", in.Text())
		}
		if err != nil {
			fmt.Printf("error: %v\n", err)
		} else {
			fmt.Println("ok")
		}
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Error(err)
	}
	cancel() // the API's catalog watch ends before the pools close
}

// TestCombineWindows checks how a windowed run is summed up: requests and errors added, the rate
// over the windows' total time (not the mean of their rates), p50 and p99 the medians of theirs.
func TestCombineWindows(t *testing.T) {
	tests := []struct {
		name    string
		windows []rate
		want    rate
	}{
		{name: "no windows give an empty run", want: rate{}},
		{name: "one window is itself", windows: []rate{{rps: 100, p50ms: 2, p99ms: 9, n: 200, errors: 1}},
			want: rate{rps: 100, p50ms: 2, p99ms: 9, n: 200, errors: 1}},
		{name: "the rate is over the total time", windows: []rate{
			{rps: 100, p50ms: 1, p99ms: 5, n: 100}, // 1 s
			{rps: 300, p50ms: 3, p99ms: 7, n: 900}, // 3 s
		}, want: rate{rps: 250, p50ms: 2, p99ms: 6, n: 1000}},
		{name: "percentiles are the windows' medians", windows: []rate{
			{rps: 10, p50ms: 1, p99ms: 50, n: 10}, {rps: 10, p50ms: 9, p99ms: 5, n: 10}, {rps: 10, p50ms: 2, p99ms: 6, n: 10},
		}, want: rate{rps: 10, p50ms: 2, p99ms: 6, n: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := combineWindows(tt.windows); got != tt.want {
				t.Errorf("combineWindows = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestQuartiles checks the quartiles the windowed report gives beside the median.
func TestQuartiles(t *testing.T) {
	tests := []struct {
		name   string
		v      []float64
		q1, q3 float64
	}{
		{name: "even count splits in halves", v: []float64{4, 1, 3, 2}, q1: 1.5, q3: 3.5},
		{name: "odd count leaves the median out", v: []float64{5, 1, 3, 2, 4}, q1: 1.5, q3: 4.5},
		{name: "one value has no halves", v: []float64{7}, q1: 0, q3: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if q1, q3 := quartiles(tt.v); q1 != tt.q1 || q3 != tt.q3 {
				t.Errorf("quartiles(%v) = %v, %v; want %v, %v", tt.v, q1, q3, tt.q1, tt.q3)
			}
		})
	}
}

// TestSteadyPart checks that pgbench's rate and latencies come from the transactions that ended
// after the warm-up, over the time after it.
func TestSteadyPart(t *testing.T) {
	log := strings.Join([]string{
		"0 0 1000000 0 1800000000 000000", // began at 1799999999: the run's start
		"1 0 500000 0 1800000000 500000",  // in a 2 s warm-up
		"0 1 10000 0 1800000001 000000",   // the end of a 2 s warm-up: counted
		"1 1 20000 0 1800000003 000000",
		"0 2 30000 0 1800000005 000000", // the last end
		"garbage line",
		"2 0 x 0 1800000003 000000",
	}, "\n")
	txs := parsePgbenchLog(strings.NewReader(log))
	if len(txs) != 5 {
		t.Fatalf("parsed %d transactions, want 5", len(txs))
	}
	tests := []struct {
		name string
		warm time.Duration
		want rate
	}{
		{"transactions after the warm-up over the time after it", 2 * time.Second,
			rate{rps: 0.75, p50ms: 20, p99ms: 30, n: 3}},
		{"no warm-up counts every transaction from the first start", 0,
			rate{rps: 5.0 / 6, p50ms: 30, p99ms: 1000, n: 5}},
		{"a warm-up longer than the run leaves nothing", time.Minute, rate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := steadyPart(txs, tt.warm); got != tt.want {
				t.Errorf("steadyPart = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPgbenchTenantShares checks that pgbench's clients keep to disjoint shares of the tenants
// that cover them all, as the API's slices keep each tenant on one backend.
func TestPgbenchTenantShares(t *testing.T) {
	line := pgbenchTenant(10000)
	if want := `\set tenant_n (:client_id + 8 * random(0, 9999)) % 10000 + 1`; line != want {
		t.Fatalf("pgbenchTenant(10000) = %q, want %q", line, want)
	}
	owner := map[int]int{}
	for c := range clients {
		for r := range 10000 {
			n := (c+clients*r)%10000 + 1
			if o, ok := owner[n]; ok && o != c {
				t.Fatalf("tenant %d is in the shares of clients %d and %d", n, o, c)
			}
			owner[n] = c
		}
	}
	if len(owner) != 10000 {
		t.Fatalf("the shares cover %d of 10000 tenants", len(owner))
	}
}
