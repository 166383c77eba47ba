package reminders

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// ErrNoSecretsKey is returned when an organization's own WhatsApp token is to be stored or read
// but the server has no key to seal it with (APPCITAS_SECRETS_KEY).
var ErrNoSecretsKey = errors.New("no secrets key configured (APPCITAS_SECRETS_KEY): an organization's own WhatsApp token cannot be stored")

// ParseSecretsKey reads a 32-byte key written in base64 (standard or URL alphabet, padded or not).
func ParseSecretsKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("the secrets key must be 32 bytes, got %d", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("the secrets key must be 32 bytes in base64 (openssl rand -base64 32)")
}

// aad binds a sealed token to its organization: a sealed value copied into another tenant's
// settings does not open there.
func aad(orgID int64) []byte {
	return []byte("appcitas:recordatorios:whatsapp_token:" + strconv.FormatInt(orgID, 10))
}

func (s *Service) gcm() (cipher.AEAD, error) {
	if len(s.opts.SecretsKey) == 0 {
		return nil, fmt.Errorf("%w", ErrNoSecretsKey)
	}
	b, err := aes.NewCipher(s.opts.SecretsKey)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return cipher.NewGCM(b)
}

// seal encrypts a token with AES-256-GCM: a random nonce, then the ciphertext.
func (s *Service) seal(orgID int64, token string) ([]byte, error) {
	g, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, []byte(token), aad(orgID)), nil
}

// open decrypts what seal made for orgID.
func (s *Service) open(orgID int64, sealed []byte) (string, error) {
	g, err := s.gcm()
	if err != nil {
		return "", err
	}
	if len(sealed) < g.NonceSize() {
		return "", errors.New("the stored WhatsApp token is damaged")
	}
	plain, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad(orgID))
	if err != nil {
		return "", errors.New("the stored WhatsApp token does not open with this server's key")
	}
	return string(plain), nil
}
