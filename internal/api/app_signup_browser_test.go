package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/auth"
)

// TestAppSignup walks creating an account from the sign-in page: the slug suggestion, a weak
// password, a taken e-mail and a taken username explained next to their fields, the new owner signed in on an
// empty agenda with the setup checklist, a reload that keeps the session, and the signup rate
// limit explained in words.
func TestAppSignup(t *testing.T) {
	t.Parallel()
	// Four signups an hour from one address: the browser's fifth attempt is refused.
	be := setupBilling(t, auth.LimitOptions{Burst: 4, Every: time.Hour})
	withBookingRoutes(be.env)
	srv := httptest.NewServer(be.h)
	t.Cleanup(srv.Close)
	// ocupado@negocio.co already has an account (made from another address than the browser's).
	if rec := be.do("POST", "/api/signup", signupBody("ocupado@negocio.co")); rec.Code != http.StatusCreated {
		t.Fatalf("signup: %d %s", rec.Code, rec.Body.String())
	}
	// The username lucia is taken too.
	be.createUser("lucia", false)

	b := startAppBrowser(t)
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	fill := func(org, name, email, username, password string) {
		b.do("filling the form",
			chromedp.Evaluate[chromedp.Void](`for (const id of ['su-org', 'su-name', 'su-email', 'su-username', 'su-password']) document.getElementById(id).value = ''`),
			chromedp.SendKeys(chromedp.CSS("#su-org"), org),
			chromedp.SendKeys(chromedp.CSS("#su-name"), name),
			chromedp.SendKeys(chromedp.CSS("#su-email"), email),
			chromedp.SendKeys(chromedp.CSS("#su-username"), username),
			chromedp.SendKeys(chromedp.CSS("#su-password"), password),
		)
	}
	fieldError := func(id string) string {
		b.do("waiting for the error next to #"+id, chromedp.WaitVisible(chromedp.CSS("#"+id+"-err")))
		if inv := b.eval("reading aria-invalid", `document.getElementById('`+id+`').getAttribute('aria-invalid')`); inv != "true" {
			b.t.Errorf("#%s is not marked invalid (aria-invalid %v)", id, inv)
		}
		if d := b.eval("reading aria-describedby", `document.getElementById('`+id+`').getAttribute('aria-describedby')`).(string); !strings.Contains(d, id+"-err") {
			b.t.Errorf("#%s is not described by its error (aria-describedby %q)", id, d)
		}
		return b.text("#" + id + "-err")
	}

	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	run("SignInOffersCreatingAnAccount", func(t *testing.T) {
		b.do("opening the signup form", chromedp.Click(chromedp.CSS("#signup-open")), chromedp.WaitVisible(chromedp.CSS("#signup-form")))
		if h := b.text("#signup-view h2"); h != "Crear cuenta" {
			t.Errorf("the signup heading = %q", h)
		}
		b.do("waiting for the plans", chromedp.Poll[chromedp.Void](`!!document.querySelector('#su-plan option[value="basico"]')`))
	})
	run("SuggestsTheSlug", func(t *testing.T) {
		b.do("typing the name", chromedp.SendKeys(chromedp.CSS("#su-org"), "Peluquería Ñandú & Co"))
		if s := b.text("#su-slug"); !strings.Contains(s, "peluqueria-nandu-co") {
			t.Errorf("the slug suggestion = %q, want peluqueria-nandu-co", s)
		}
	})
	run("WeakPasswordIsExplainedNextToTheField", func(t *testing.T) {
		fill("Peluquería Ñandú", "Lucía Díaz", "lucia@nandu.co", "", "solopalabras")
		b.do("submitting", chromedp.Click(chromedp.CSS("#su-submit")))
		if msg := fieldError("su-password"); msg != "Mezcla letras con números o símbolos." {
			t.Errorf("the password's error = %q", msg)
		}
		if focus := b.eval("reading the focus", `document.activeElement.id`); focus != "su-password" {
			t.Errorf("the focus is on %q, want the password", focus)
		}
		b.axeCheck(t, "signup form with an error")
	})
	run("TakenEmailIsExplainedNextToTheField", func(t *testing.T) {
		fill("Peluquería Ñandú", "Lucía Díaz", "ocupado@negocio.co", "", "tijeras-2027")
		b.do("submitting", chromedp.Click(chromedp.CSS("#su-submit")))
		if msg := fieldError("su-email"); !strings.HasPrefix(msg, "Este correo ya tiene una cuenta.") {
			t.Errorf("the e-mail's error = %q", msg)
		}
		if b.eval("checking the password's error", `document.getElementById('su-password-err').hidden`) != true {
			t.Error("the password's old error is still shown")
		}
	})
	run("TakenUsernameIsExplainedNextToTheField", func(t *testing.T) {
		fill("Peluquería Ñandú", "Lucía Díaz", "lucia@nandu.co", "lucia", "tijeras-2027")
		b.do("submitting", chromedp.Click(chromedp.CSS("#su-submit")))
		if msg := fieldError("su-username"); msg != "Ese usuario ya existe. Elige otro." {
			t.Errorf("the username's error = %q", msg)
		}
	})
	run("NewOwnerLandsOnAnEmptyAgendaWithTheChecklist", func(t *testing.T) {
		fill("Peluquería Ñandú", "Lucía Díaz", "lucia@nandu.co", "lucia.diaz", "tijeras-2027")
		b.do("creating the account", chromedp.Click(chromedp.CSS("#su-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#setup #checklist li[data-step="stepServices"][data-done="false"]`)))
		if org := b.eval("reading the organization", `document.getElementById('org-select').selectedOptions[0].textContent`); org != "Peluquería Ñandú" {
			t.Errorf("the open organization is %v", org)
		}
		if done := b.eval("reading the branch step", `document.querySelector('#checklist li[data-step="stepBranch"]').dataset.done`); done != "true" {
			t.Errorf("the signup's default branch is not ticked off: %v", done)
		}
		list := b.text("#checklist")
		for _, want := range []string{"Crea una sede", "Crea tus servicios", "Define los horarios", "Invita a tu equipo"} {
			if !strings.Contains(list, want) {
				t.Errorf("the checklist lacks %q: %s", want, list)
			}
		}
		if n := b.eval("counting appointments", `document.querySelectorAll('#agenda .appt').length`).(float64); n != 0 {
			t.Errorf("the new agenda shows %v appointments", n)
		}
		b.do("waiting for the welcome", chromedp.Poll[chromedp.Void](`document.getElementById('flash').textContent.startsWith('Cuenta creada.')`))
		if u := b.text("#session-user"); u != "lucia.diaz" {
			t.Errorf("signed in as %q", u)
		}
	})
	run("ReloadKeepsTheNewSessionWithoutAReadableToken", func(t *testing.T) {
		b.do("reloading", chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS(`#setup #checklist li[data-step="stepServices"]`)))
		stored := b.eval("reading script-readable storage", `JSON.stringify(localStorage) + '|' + JSON.stringify(sessionStorage) + '|' + document.cookie`).(string)
		if strings.Contains(stored, "eyJ") || strings.Contains(stored, "rt_") || strings.Contains(stored, "appcitas_refresh") {
			t.Errorf("a token is readable by scripts: %s", stored)
		}
	})
	run("RateLimitIsExplained", func(t *testing.T) {
		b.do("signing out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.do("opening the signup form", chromedp.Click(chromedp.CSS("#signup-open")), chromedp.WaitVisible(chromedp.CSS("#signup-form")))
		fill("Spa Río", "Ana Gil", "ana@spario.co", "", "masajes-2027")
		b.do("submitting", chromedp.Click(chromedp.CSS("#su-submit")), chromedp.WaitVisible(chromedp.CSS("#su-msg")))
		if msg := b.text("#su-msg"); !strings.HasPrefix(msg, "Demasiados registros desde esta conexión. Intenta de nuevo en") {
			t.Errorf("the rate limit's message = %q", msg)
		}
		b.do("back to sign in", chromedp.Click(chromedp.CSS("#signup-back")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	})
	run("SignsInAgainWithTheChosenUsername", func(t *testing.T) {
		b.login("lucia.diaz", "tijeras-2027")
		b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS(`#setup #checklist li[data-step="stepServices"]`)))
	})
	b.checkProblems()
}
