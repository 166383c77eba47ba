package api

import (
	"net/http"
	"strings"
)

// maxLoggedLogin bounds the username or e-mail a failed-login log line carries (auth stores at
// most 150 and 254 characters).
const maxLoggedLogin = 254

// logFailedLogin writes one WARN line for a login refused for its credentials: the username or
// e-mail tried and the client's address, never the password.
func (s *Server) logFailedLogin(r *http.Request, req tokenRequest) {
	cut := func(v string) string {
		if len(v) > maxLoggedLogin {
			v = strings.ToValidUTF8(v[:maxLoggedLogin], "")
		}
		return v
	}
	args := []any{"request_id", infoFrom(r.Context()).id, "client_ip", clientIP(r)}
	if req.Email != "" {
		args = append(args, "email", cut(req.Email))
	} else {
		args = append(args, "username", cut(req.Username))
	}
	s.log.WarnContext(r.Context(), "login failed", args...)
}
