package cli

import (
	"slices"
	"testing"
)

func TestPsqlInvocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, conn string
		extra      []string
		wantArgs   []string
		wantEnv    []string
	}{
		{"KeepsSSLModeAndOtherURLParameters",
			"postgres://app:s3cret@db.example.com:6432/appcitas?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x&target_session_attrs=read-write",
			[]string{"-c", `\dn`},
			[]string{"-d", "postgres://app@db.example.com:6432/appcitas?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&target_session_attrs=read-write", "-c", `\dn`},
			[]string{"PGPASSWORD=s3cret"}},
		{"MovesAPasswordParameterToTheEnvironment",
			"postgresql://app@db/appcitas?password=p%40ss&sslmode=require", nil,
			[]string{"-d", "postgresql://app@db/appcitas?sslmode=require"},
			[]string{"PGPASSWORD=p@ss"}},
		{"DropsPgxOnlyParameters",
			"postgres://app@db/appcitas?sslmode=require&pool_max_conns=40&default_query_exec_mode=exec&statement_cache_capacity=0", nil,
			[]string{"-d", "postgres://app@db/appcitas?sslmode=require"}, nil},
		{"KeepsKeywordValueStrings",
			"host=db port=5433 user=app password='it\\'s' dbname=appcitas sslmode=require pool_max_conns=4", nil,
			[]string{"-d", "host=db port=5433 user=app dbname=appcitas sslmode=require"},
			[]string{"PGPASSWORD=it's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, env, err := psqlInvocation(tt.conn, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(args, tt.wantArgs) {
				t.Errorf("args = %q\nwant   %q", args, tt.wantArgs)
			}
			if !slices.Equal(env, tt.wantEnv) {
				t.Errorf("env = %q, want %q", env, tt.wantEnv)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000"},
		{":9090", "http://127.0.0.1:9090"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "http://[::1]:8080"},
		{"citas.example.com:443", "http://citas.example.com:443"},
	}
	for _, tt := range tests {
		t.Run("Maps"+tt.addr, func(t *testing.T) {
			if got := baseURL(tt.addr); got != tt.want {
				t.Errorf("baseURL(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
