package cli

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// psqlInvocation returns the arguments and extra environment of a psql connected to connString,
// a PostgreSQL URL or keyword/value string: the connection string itself goes to psql (-d), so
// sslmode and every other libpq parameter reach it; the password moves to PGPASSWORD, out of the
// command line where ps shows it; parameters only pgx knows (pool_*, statement and description
// caches, query exec mode) are dropped, since psql refuses them. extra follows.
func psqlInvocation(connString string, extra []string) (args, env []string, err error) {
	conn, password, err := psqlConnString(connString)
	if err != nil {
		return nil, nil, err
	}
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return append([]string{"-d", conn}, extra...), env, nil
}

// pgxOnlyParam reports whether a connection parameter is read by pgx or pgxpool, not libpq.
func pgxOnlyParam(name string) bool {
	switch name {
	case "statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode":
		return true
	}
	return strings.HasPrefix(name, "pool_")
}

// keywordParam matches one keyword=value pair of a keyword/value connection string (a value is a
// word or a single-quoted string with backslash escapes).
var keywordParam = regexp.MustCompile(`(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// psqlConnString returns connString without its password and pgx-only parameters, and the
// password.
func psqlConnString(connString string) (conn, password string, err error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", "", fmt.Errorf("reading the database URL: %w", err)
		}
		if u.User != nil {
			password, _ = u.User.Password()
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		if p := q.Get("password"); p != "" {
			password = p
		}
		q.Del("password")
		for name := range q {
			if pgxOnlyParam(name) {
				q.Del(name)
			}
		}
		u.RawQuery = q.Encode()
		return u.String(), password, nil
	}
	var kept []string
	for _, m := range keywordParam.FindAllStringSubmatch(connString, -1) {
		switch name, value := m[1], m[2]; {
		case name == "password":
			password = value
			if strings.HasPrefix(value, "'") {
				password = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(value[1 : len(value)-1])
			}
		case !pgxOnlyParam(name):
			kept = append(kept, m[0])
		}
	}
	return strings.Join(kept, " "), password, nil
}
