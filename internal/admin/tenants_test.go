package admin_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
		require.NoError(t, err)
		require.Equal(t, int64(3), p.Total)
		require.Nil(t, p.Next)
		require.Len(t, p.Tenants, 3)
		for i, tn := range p.Tenants {
			require.Equal(t, f.orgs[i].ID, tn.ID)
			require.Equal(t, admin.Migration{Version: latest, Latest: latest, Recorded: true}, tn.Migration)
			require.NotNil(t, tn.SchemaExists)
			require.True(t, *tn.SchemaExists)
			require.Equal(t, &admin.Backup{}, tn.Backup)
			require.NotNil(t, tn.Subscription)
			require.Equal(t, "trialing", tn.Subscription.Status)
		}
		require.False(t, p.Tenants[2].IsActive)
	})

	t.Run("PagesByIDWithACursor", func(t *testing.T) {
		p, err := ov.Tenants(ctx, admin.Filter{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, int64(3), p.Total)
		require.Len(t, p.Tenants, 2)
		require.NotNil(t, p.Next)
		require.Equal(t, f.orgs[1].ID, *p.Next)
		p, err = ov.Tenants(ctx, admin.Filter{Limit: 2, After: *p.Next})
		require.NoError(t, err)
		require.Len(t, p.Tenants, 1)
		require.Nil(t, p.Next)
	})

	t.Run("FiltersByStateAndQuery", func(t *testing.T) {
		inactive := false
		p, err := ov.Tenants(ctx, admin.Filter{Active: &inactive})
		require.NoError(t, err)
		require.Len(t, p.Tenants, 1)
		require.Equal(t, f.orgs[2].ID, p.Tenants[0].ID)
		p, err = ov.Tenants(ctx, admin.Filter{Query: "luna"})
		require.NoError(t, err)
		require.Len(t, p.Tenants, 1)
		require.Equal(t, f.orgs[1].ID, p.Tenants[0].ID)
		p, err = ov.Tenants(ctx, admin.Filter{Query: "%"})
		require.NoError(t, err)
		require.Empty(t, p.Tenants)
		p, err = ov.Tenants(ctx, admin.Filter{Subscription: "none"})
		require.NoError(t, err)
		require.Empty(t, p.Tenants)
	})

	t.Run("LeavesBackupNullWithoutAStore", func(t *testing.T) {
		tn, err := admin.Overview{Manager: f.m}.Tenant(ctx, f.orgs[0].ID)
		require.NoError(t, err)
		require.Nil(t, tn.Backup)
	})

	t.Run("RejectsAnUnknownID", func(t *testing.T) {
		_, err := ov.Tenant(ctx, 1<<40)
		require.ErrorIs(t, err, tenancy.ErrNotFound)
	})

	t.Run("CountsWhatATenantHolds", func(t *testing.T) {
		tn, err := ov.Tenant(ctx, f.orgs[1].ID)
		require.NoError(t, err)
		c, err := ov.Counts(ctx, tn, time.Now())
		require.NoError(t, err)
		require.Equal(t, admin.Counts{Services: 5}, c)
	})

	t.Run("RejectsCountingAMissingSchema", func(t *testing.T) {
		missing := false
		_, err := ov.Counts(ctx, admin.Tenant{ID: 1, SchemaName: "tenant_gone", SchemaExists: &missing}, time.Now())
		require.ErrorIs(t, err, tenancy.ErrSchemaMissing)
		_, err = ov.Counts(ctx, admin.Tenant{ID: 1}, time.Now())
		require.ErrorIs(t, err, tenancy.ErrNoSchemaName)
	})
}
