package pgserver

import "testing"

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, out, want string
		wantErr         bool
	}{
		{"Debian", "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n", "15.8", false},
		{"Plain", "postgres (PostgreSQL) 17.2\n", "17.2", false},
		{"RejectsOtherOutput", "bash: postgres: command not found", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseVersion(tt.out)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseVersion(%q) = %q, %v; want %q (error: %v)", tt.out, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
