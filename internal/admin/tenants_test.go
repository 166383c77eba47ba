package admin_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/admin"
	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestOverview(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := setup(t)
	latest := f.m.TenantMigrations().Latest()
	ov := admin.Overview{Manager: f.m, Backups: &backup.Store{Root: t.TempDir()}}

	t.Run("ListsEveryOrganizationWithoutALimit", func(t *testing.T) {
		p, err := ov.Tenants(ctx, admin.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.Total, int64(3); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if p.Next != nil {
			t.Fatalf("p.Next = %+v, want nil", p.Next)
		}
		if len(p.Tenants) != 3 {
			t.Fatalf("len(p.Tenants) = %d, want 3", len(p.Tenants))
		}
		for i, tn := range p.Tenants {
			if got, want := tn.ID, f.orgs[i].ID; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if got, want := tn.Migration, (admin.Migration{Version: latest, Latest: latest, Recorded: true}); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if tn.SchemaExists == nil {
				t.Fatal("tn.SchemaExists is nil")
			}
			if !*tn.SchemaExists {
				t.Fatal("*tn.SchemaExists is false")
			}
			if got, want := tn.Backup, (&admin.Backup{}); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if tn.Subscription == nil {
				t.Fatal("tn.Subscription is nil")
			}
			if got, want := tn.Subscription.Status, "trialing"; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		}
		if p.Tenants[2].IsActive {
			t.Fatal("p.Tenants[2].IsActive is true")
		}
	})

	t.Run("PagesByIDWithACursor", func(t *testing.T) {
		p, err := ov.Tenants(ctx, admin.Filter{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.Total, int64(3); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if len(p.Tenants) != 2 {
			t.Fatalf("len(p.Tenants) = %d, want 2", len(p.Tenants))
		}
		if p.Next == nil {
			t.Fatal("p.Next is nil")
		}
		if got, want := *p.Next, f.orgs[1].ID; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		p, err = ov.Tenants(ctx, admin.Filter{Limit: 2, After: *p.Next})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tenants) != 1 {
			t.Fatalf("len(p.Tenants) = %d, want 1", len(p.Tenants))
		}
		if p.Next != nil {
			t.Fatalf("p.Next = %+v, want nil", p.Next)
		}
	})

	t.Run("FiltersByStateAndQuery", func(t *testing.T) {
		inactive := false
		p, err := ov.Tenants(ctx, admin.Filter{Active: &inactive})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tenants) != 1 {
			t.Fatalf("len(p.Tenants) = %d, want 1", len(p.Tenants))
		}
		if got, want := p.Tenants[0].ID, f.orgs[2].ID; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		p, err = ov.Tenants(ctx, admin.Filter{Query: "luna"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tenants) != 1 {
			t.Fatalf("len(p.Tenants) = %d, want 1", len(p.Tenants))
		}
		if got, want := p.Tenants[0].ID, f.orgs[1].ID; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		p, err = ov.Tenants(ctx, admin.Filter{Query: "%"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tenants) != 0 {
			t.Fatalf("p.Tenants = %+v, want none", p.Tenants)
		}
		p, err = ov.Tenants(ctx, admin.Filter{Subscription: "none"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tenants) != 0 {
			t.Fatalf("p.Tenants = %+v, want none", p.Tenants)
		}
	})

	t.Run("LeavesBackupNullWithoutAStore", func(t *testing.T) {
		tn, err := admin.Overview{Manager: f.m}.Tenant(ctx, f.orgs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if tn.Backup != nil {
			t.Fatalf("tn.Backup = %+v, want nil", tn.Backup)
		}
	})

	t.Run("RejectsAnUnknownID", func(t *testing.T) {
		_, err := ov.Tenant(ctx, 1<<40)
		if !errors.Is(err, tenancy.ErrNotFound) {
			t.Fatalf("err = %v, want tenancy.ErrNotFound", err)
		}
	})

	t.Run("CountsWhatATenantHolds", func(t *testing.T) {
		tn, err := ov.Tenant(ctx, f.orgs[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ov.Counts(ctx, tn, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c, (admin.Counts{Services: 5}); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})

	t.Run("RejectsCountingAMissingSchema", func(t *testing.T) {
		missing := false
		_, err := ov.Counts(ctx, admin.Tenant{ID: 1, SchemaName: "tenant_gone", SchemaExists: &missing}, time.Now())
		if !errors.Is(err, tenancy.ErrSchemaMissing) {
			t.Fatalf("err = %v, want tenancy.ErrSchemaMissing", err)
		}
		_, err = ov.Counts(ctx, admin.Tenant{ID: 1}, time.Now())
		if !errors.Is(err, tenancy.ErrNoSchemaName) {
			t.Fatalf("err = %v, want tenancy.ErrNoSchemaName", err)
		}
	})
}
