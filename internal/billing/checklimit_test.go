package billing_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/billing"
)

// TestCheckLimitTx checks the plan-limit check the API's create handlers call inside their tenant
// transaction.
func TestCheckLimitTx(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	org, _ := e.org("Limitada por tx", "basico")
	ten, _ := org.Tenant()
	check := func(orgID int64, l billing.Limit) error {
		t.Helper()
		var checkErr error
		if err := e.m.Run(ctx, ten, func(tx pgx.Tx) error {
			checkErr = e.svc.CheckLimitTx(ctx, tx, orgID, l, e.clock.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return checkErr
	}
	t.Run("AllowsTheFirstBranch", func(t *testing.T) {
		if err := check(org.ID, billing.LimitBranches); err != nil {
			t.Fatalf("first branch refused: %v", err)
		}
	})
	t.Run("RejectsOneMoreThanThePlanAllows", func(t *testing.T) {
		if err := e.m.Run(ctx, ten, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Principal', 'America/Bogota')`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		err := check(org.ID, billing.LimitBranches)
		var le *billing.LimitError
		if !errors.As(err, &le) || le.Plan != "basico" || le.Upgrade != "profesional" || le.Max != 1 {
			t.Fatalf("check at the limit = %#v", err)
		}
	})
	t.Run("AllowsAnOrganizationWithoutSubscription", func(t *testing.T) {
		if err := check(-1, billing.LimitBranches); err != nil {
			t.Fatalf("no subscription refused: %v", err)
		}
	})
	t.Run("AllowsAnUnlimitedPlan", func(t *testing.T) {
		if _, err := e.svc.ChangePlan(ctx, org.ID, "empresa", ""); err != nil {
			t.Fatal(err)
		}
		if err := check(org.ID, billing.LimitBranches); err != nil {
			t.Fatalf("unlimited plan refused: %v", err)
		}
	})
}
