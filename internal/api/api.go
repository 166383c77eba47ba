// Package api is appcitas's HTTP interface: one route table on the standard library's ServeMux,
// JSON in and out.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// Server holds what the handlers need.
type Server struct {
	tenancy *tenancy.Manager
	log     *slog.Logger
}

// New returns the HTTP handler of the API.
func New(m *tenancy.Manager, log *slog.Logger) http.Handler {
	s := &Server{tenancy: m, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the default server answers and public is fully migrated.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	pool, err := s.tenancy.Servers().Shared(ctx, tenancy.DefaultServer)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer")
		return
	}
	v, err := migrate.PublicVersion(ctx, pool)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "cannot read the public schema version")
		return
	}
	if latest := migrate.Public().Latest(); v < latest {
		writeError(w, http.StatusServiceUnavailable, "migrations_pending", "the public schema is behind: run appcitas migrate")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "public_version": v})
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the API's error shape: {"error": {"code": ..., "message": ...}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
