// Package whatsappsim is a simulator of the WhatsApp Business Cloud API's messages endpoint.
// It accepts template messages shaped as Meta documents them and answers with a made-up message
// id that starts with "wamid.SIMULADO.", so that no simulated message is mistaken for a real one.
// Nothing is delivered to anyone.
// Tests use it through [New]; serve starts it only when APPCITAS_WHATSAPP_SIMULATOR asks for it.
package whatsappsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/appcitas/appcitas/internal/whatsapp"
)

// Token and PhoneNumberID are what the simulator accepts.
const (
	Token         = "simulador-whatsapp"
	PhoneNumberID = "100000000000001"
)

// Message is a template message the simulator accepted.
type Message struct {
	ID         string
	To         string
	Template   string
	Language   string
	BodyParams []string
}

// Server is a running simulator.
type Server struct {
	// URL is the API base URL: give it to whatsapp.Config.APIURL.
	URL string

	srv *httptest.Server
	log *slog.Logger

	mu   sync.Mutex
	sent []Message
}

// New starts a simulator; log (nil: discard) gets one line per message, labelled as simulated.
func New(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Client returns a client of the simulator, labelled "simulador".
func (s *Server) Client() (*whatsapp.Client, error) {
	return whatsapp.New(whatsapp.Config{Token: Token, PhoneNumberID: PhoneNumberID, APIURL: s.URL, Label: "simulador"})
}

// Close stops the simulator.
func (s *Server) Close() { s.srv.Close() }

// Sent returns the messages accepted so far.
func (s *Server) Sent() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.sent...)
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "SIMULADO"}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 3 || parts[2] != "messages" || !strings.HasPrefix(parts[0], "v") {
		fail(w, http.StatusNotFound, 100, "Unsupported request")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Token {
		fail(w, http.StatusUnauthorized, 190, "Invalid OAuth access token")
		return
	}
	if parts[1] != PhoneNumberID {
		fail(w, http.StatusBadRequest, 100, "Unknown phone number id")
		return
	}
	var body struct {
		MessagingProduct string `json:"messaging_product"`
		To               string `json:"to"`
		Type             string `json:"type"`
		Template         struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
			Components []struct {
				Type       string `json:"type"`
				Parameters []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil ||
		body.MessagingProduct != "whatsapp" || body.Type != "template" || body.To == "" ||
		body.Template.Name == "" || body.Template.Language.Code == "" {
		fail(w, http.StatusBadRequest, 100, "Invalid parameter")
		return
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	m := Message{ID: "wamid.SIMULADO." + hex.EncodeToString(id[:]), To: body.To,
		Template: body.Template.Name, Language: body.Template.Language.Code}
	for _, c := range body.Template.Components {
		if c.Type == "body" {
			for _, p := range c.Parameters {
				m.BodyParams = append(m.BodyParams, p.Text)
			}
		}
	}
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.mu.Unlock()
	s.log.Info("WHATSAPP SIMULATOR: message not delivered to anyone", "id", m.ID, "to", m.To, "template", m.Template)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": body.To, "wa_id": body.To}},
		"messages":          []map[string]string{{"id": m.ID, "message_status": "accepted"}},
	})
}
