package onboarding_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/onboarding"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// BenchmarkSignup measures one whole signup in process (production argon2id cost, schema
// provisioning, profile, branch, trial, commit) and, interleaved in the same loop so that they
// see the same machine load, its two expensive parts alone: one password hash, and one
// CreateOrganizationTx (role, schema, every tenant migration) committed. Metrics are medians and
// 90th percentiles in milliseconds.
func BenchmarkSignup(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	bs, err := billing.New(ctx, e.m, billing.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := onboarding.New(ctx, e.m, bs, onboarding.Options{Hash: auth.DefaultHashParams(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	var signup, hash, provision []time.Duration
	i := 0
	for b.Loop() {
		i++
		r := request()
		r.Email = fmt.Sprintf("bench%d@example.co", i)
		start := time.Now()
		if _, err := svc.Signup(ctx, "", r); err != nil {
			b.Fatal(err)
		}
		signup = append(signup, time.Since(start))

		start = time.Now()
		if _, err := auth.HashPassword(r.Password, auth.DefaultHashParams()); err != nil {
			b.Fatal(err)
		}
		hash = append(hash, time.Since(start))

		start = time.Now()
		err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			_, err := e.m.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: "Solo esquema"})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		provision = append(provision, time.Since(start))
	}
	report(b, "signup", signup)
	report(b, "hash", hash)
	report(b, "provision", provision)
}

func report(b *testing.B, name string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, name+"_p50_ms")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, name+"_p90_ms")
}
