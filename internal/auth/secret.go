package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateSecret returns the signing secret stored in path, creating it (mode 0600, 48 random
// bytes, base64) when it does not exist. created reports whether it was made now. It is meant for
// the embedded development database only; production sets APPCITAS_JWT_SECRET.
func LoadOrCreateSecret(path string) (secret []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < MinSecretLen {
			return nil, false, fmt.Errorf("jwt secret in %s is shorter than %d bytes: delete it to make a new one", path, MinSecretLen)
		}
		return []byte(s), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("reading jwt secret: %w", err)
	}
	raw := make([]byte, 48)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, fmt.Errorf("making jwt secret: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, fmt.Errorf("making jwt secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSecret(path) // another process made it first
	}
	if err != nil {
		return nil, false, fmt.Errorf("writing jwt secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("writing jwt secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("writing jwt secret: %w", err)
	}
	return []byte(s), true, nil
}
