package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/appcitas/appcitas/internal/whatsapp"
	"github.com/appcitas/appcitas/internal/whatsapp/whatsappsim"
)

// documented is the template message of Meta's guide "Send message templates" (Cloud API), with a
// body component of text parameters.
const documented = `{
  "messaging_product": "whatsapp",
  "recipient_type": "individual",
  "to": "573001234567",
  "type": "template",
  "template": {
    "name": "recordatorio_cita",
    "language": {"code": "es_CO"},
    "components": [{
      "type": "body",
      "parameters": [
        {"type": "text", "text": "Ana"},
        {"type": "text", "text": "Barbería Juan"}
      ]
    }]
  }
}`

func TestSend(t *testing.T) {
	t.Parallel()
	var (
		got    map[string]any
		path   string
		header http.Header
		status = http.StatusOK
		answer = `{"messaging_product":"whatsapp","contacts":[{"input":"573001234567","wa_id":"573001234567"}],"messages":[{"id":"wamid.HBgLNTczMDAxMjM0NTY3FQIAERgSQUJD"}]}`
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		got = nil
		_ = json.Unmarshal(raw, &got)
		path, header = r.Method+" "+r.URL.Path, r.Header.Clone()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	c, err := whatsapp.New(whatsapp.Config{Token: "EAAG-secreto", PhoneNumberID: "106540352242922", APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	msg := whatsapp.Template{To: "+57 300 123 4567", Name: "recordatorio_cita", Language: "es_CO", BodyParams: []string{"Ana", "Barbería Juan"}}

	t.Run("PostsTheDocumentedTemplateMessage", func(t *testing.T) {
		id, err := c.Send(t.Context(), msg)
		if err != nil || id != "wamid.HBgLNTczMDAxMjM0NTY3FQIAERgSQUJD" {
			t.Fatalf("id %q, err %v", id, err)
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(documented), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("body %v\nwant %v", got, want)
		}
		if path != "POST /v21.0/106540352242922/messages" || header.Get("Authorization") != "Bearer EAAG-secreto" ||
			header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s %v", path, header)
		}
	})

	for _, tc := range []struct {
		name      string
		status    int
		retryable bool
	}{
		{"RetriesTooManyRequests", 429, true},
		{"RetriesServerErrors", 503, true},
		{"DoesNotRetryBadRequests", 400, false},
		{"DoesNotRetryBadTokens", 401, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer = tc.status, `{"error":{"message":"(#131000) Algo falló","type":"OAuthException","code":131000,"fbtrace_id":"A"}}`
			defer func() { status = http.StatusOK }()
			_, err := c.Send(t.Context(), msg)
			var we *whatsapp.Error
			if !errors.As(err, &we) || we.Status != tc.status || we.Code != 131000 || whatsapp.IsRetryable(err) != tc.retryable {
				t.Fatalf("err %v (retryable %v)", err, whatsapp.IsRetryable(err))
			}
		})
	}

	t.Run("RetriesNetworkErrors", func(t *testing.T) {
		dead, _ := whatsapp.New(whatsapp.Config{Token: "EAAG-secreto", PhoneNumberID: "1", APIURL: "http://127.0.0.1:1"})
		_, err := dead.Send(context.Background(), msg)
		if !whatsapp.IsRetryable(err) {
			t.Fatalf("network error %v not retryable", err)
		}
	})

	t.Run("RejectsBadInput", func(t *testing.T) {
		if _, err := whatsapp.New(whatsapp.Config{Token: "x", PhoneNumberID: "12ab"}); !errors.Is(err, whatsapp.ErrConfig) {
			t.Fatalf("phone number id 12ab: %v", err)
		}
		if _, err := c.Send(t.Context(), whatsapp.Template{To: "no es un número", Name: "x", Language: "es"}); err == nil || whatsapp.IsRetryable(err) {
			t.Fatalf("bad recipient: %v", err)
		}
	})
}

func TestSimulator(t *testing.T) {
	t.Parallel()
	sim := whatsappsim.New(nil)
	defer sim.Close()
	c, err := sim.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("AcceptsTemplatesWithALabelledID", func(t *testing.T) {
		id, err := c.Send(t.Context(), whatsapp.Template{To: "573001234567", Name: "recordatorio_cita", Language: "es", BodyParams: []string{"Ana"}})
		if err != nil || c.Label() != "simulador" || len(sim.Sent()) != 1 || sim.Sent()[0].ID != id || sim.Sent()[0].BodyParams[0] != "Ana" {
			t.Fatalf("id %q err %v sent %+v", id, err, sim.Sent())
		}
	})
	t.Run("RefusesAnotherToken", func(t *testing.T) {
		other, _ := c.WithNumber(whatsappsim.PhoneNumberID, "otro")
		if _, err := other.Send(t.Context(), whatsapp.Template{To: "573001234567", Name: "x", Language: "es"}); err == nil || whatsapp.IsRetryable(err) {
			t.Fatalf("wrong token: %v", err)
		}
	})
}
