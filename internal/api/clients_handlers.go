package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// clientRequest is the body of POST /api/clientes.
type clientRequest struct {
	Nombre   string `json:"nombre" openapi:"required"`
	Telefono string `json:"telefono"`
	Email    string `json:"email"`
	Notas    string `json:"notas"`
}

// mergeRequest is the body of POST /api/clientes/{id}/fusionar.
type mergeRequest struct {
	// ClienteID is the client merged into the one of the path, and removed.
	ClienteID int64 `json:"cliente_id" openapi:"required"`
}

// queryLimit reads the optional limit parameter (0 when absent).
func queryLimit(q map[string][]string) (int, error) {
	v := ""
	if vs := q["limit"]; len(vs) > 0 {
		v = vs[0]
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > booking.MaxPageSize {
		return 0, invalidQuery("limit", "must be an integer between 1 and "+strconv.Itoa(booking.MaxPageSize))
	}
	return n, nil
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "q", "limit", "cursor")
	var f booking.ClientFilter
	if err == nil {
		f.Limit, err = queryLimit(q)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Query, f.Cursor = q.Get("q"), q.Get("cursor")
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		page, err := booking.ListClients(ctx, tx, actor(m), f)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, page)
		return nil
	})
}

func (s *Server) createClient(w http.ResponseWriter, r *http.Request) {
	var in clientRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		c, err := booking.CreateClient(ctx, tx, actor(m), booking.ClientPatch{Name: &in.Nombre, Phone: &in.Telefono, Email: &in.Email, Notes: &in.Notas})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, c)
		return nil
	})
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		c, err := booking.GetClient(ctx, tx, actor(m), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) updateClient(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in booking.ClientPatch
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		c, err := booking.UpdateClient(ctx, tx, actor(m), id, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) mergeClients(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in mergeRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		c, err := booking.MergeClients(ctx, tx, actor(m), id, in.ClienteID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) clientAppointments(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := queryOf(r, "limit", "cursor")
	limit := 0
	if err == nil {
		limit, err = queryLimit(q)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		page, err := booking.ClientAppointments(ctx, tx, actor(m), id, limit, q.Get("cursor"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, page)
		return nil
	})
}
