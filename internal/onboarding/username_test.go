package onboarding_test

import (
	"errors"
	"testing"

	"github.com/appcitas/appcitas/internal/onboarding"
)

func TestSignupUsername(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("DefaultsToTheEmail", func(t *testing.T) {
		res, err := e.svc.Signup(t.Context(), "", request())
		if err != nil {
			t.Fatal(err)
		}
		if res.User.Username != "juan@barberia.co" {
			t.Fatalf("username = %q, want the e-mail", res.User.Username)
		}
	})

	t.Run("TakesTheChosenUsername", func(t *testing.T) {
		r := request()
		r.Email, r.Username, r.OrganizationName = "lucia@nandu.co", "  lucia ", "Peluquería Ñandú"
		res, err := e.svc.Signup(t.Context(), "", r)
		if err != nil {
			t.Fatal(err)
		}
		if res.User.Username != "lucia" || res.User.Email != "lucia@nandu.co" {
			t.Fatalf("user = %+v", res.User)
		}
	})

	t.Run("RejectsATakenUsername", func(t *testing.T) {
		r := request()
		r.Email, r.Username, r.OrganizationName = "otra@nandu.co", "LUCIA", "Otra Peluquería"
		_, err := e.svc.Signup(t.Context(), "", r)
		if !errors.Is(err, onboarding.ErrUsernameTaken) {
			t.Fatalf("err = %v, want ErrUsernameTaken", err)
		}
		if n := e.count(t, `SELECT count(*) FROM public.organizacion_organizacion WHERE nombre = 'Otra Peluquería'`); n != 0 {
			t.Fatalf("the refused signup left %d organizations", n)
		}
	})

	t.Run("RejectsABadUsername", func(t *testing.T) {
		r := request()
		r.Email, r.Username = "mal@nandu.co", "lucía díaz"
		_, err := e.svc.Signup(t.Context(), "", r)
		var fe *onboarding.FieldError
		if !errors.As(err, &fe) || fe.Field != "username" {
			t.Fatalf("err = %v, want a FieldError on username", err)
		}
	})
}
