package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Identity is this server's name and current signing key, plus the keys it
// used before (published as old_verify_keys).
type Identity struct {
	ServerName spec.ServerName
	KeyID      gomatrixserverlib.KeyID
	PrivateKey ed25519.PrivateKey
	// Old are keys this server no longer signs with.
	Old []OldKey
}

// OldKey is a signing key that is no longer used.
type OldKey struct {
	KeyID     gomatrixserverlib.KeyID
	PublicKey ed25519.PublicKey
	ExpiredTS spec.Timestamp
}

// KeyStore is the part of storage.Store that keeps this server's own keys.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	AddSigningKey(ctx context.Context, key storage.SigningKey) error
}

// LoadIdentity returns the server's identity from the store, generating and
// persisting a fresh ed25519 key on first start so restarts keep it.
func LoadIdentity(ctx context.Context, st KeyStore, serverName spec.ServerName) (*Identity, error) {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("federation: load signing keys: %w", err)
	}
	if !hasCurrent(keys) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("federation: generate signing key: %w", err)
		}
		idBytes := make([]byte, 6)
		if _, err := rand.Read(idBytes); err != nil {
			return nil, fmt.Errorf("federation: generate key id: %w", err)
		}
		id := "ed25519:" + strings.NewReplacer("+", "a", "/", "b").Replace(base64.RawStdEncoding.EncodeToString(idBytes))
		key := storage.SigningKey{KeyID: id, Seed: seed, CreatedTS: time.Now().UnixMilli()}
		if err := st.AddSigningKey(ctx, key); err != nil {
			return nil, fmt.Errorf("federation: store signing key: %w", err)
		}
		keys = append([]storage.SigningKey{key}, keys...)
	}
	id := &Identity{ServerName: serverName}
	for _, k := range keys {
		if len(k.Seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("federation: signing key %s: %w", k.KeyID, errBadSeed)
		}
		priv := ed25519.NewKeyFromSeed(k.Seed)
		if k.ExpiredTS == 0 && id.PrivateKey == nil {
			id.KeyID = gomatrixserverlib.KeyID(k.KeyID)
			id.PrivateKey = priv
			continue
		}
		id.Old = append(id.Old, OldKey{
			KeyID:     gomatrixserverlib.KeyID(k.KeyID),
			PublicKey: priv.Public().(ed25519.PublicKey),
			ExpiredTS: spec.Timestamp(k.ExpiredTS),
		})
	}
	return id, nil
}

var errBadSeed = errors.New("seed is not 32 bytes")

func hasCurrent(keys []storage.SigningKey) bool {
	for _, k := range keys {
		if k.ExpiredTS == 0 {
			return true
		}
	}
	return false
}

// PublicKey returns the public half of the current signing key.
func (id *Identity) PublicKey() ed25519.PublicKey {
	return id.PrivateKey.Public().(ed25519.PublicKey)
}

// publicKeyFor returns our own public key for a key ID valid at ts, or nil.
func (id *Identity) publicKeyFor(keyID gomatrixserverlib.KeyID, ts spec.Timestamp) ed25519.PublicKey {
	if keyID == id.KeyID {
		return id.PublicKey()
	}
	for _, old := range id.Old {
		if old.KeyID == keyID && ts <= old.ExpiredTS {
			return old.PublicKey
		}
	}
	return nil
}
