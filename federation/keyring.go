package federation

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// RemoteKeyStore is the part of storage.Store that caches other servers'
// keys.
type RemoteKeyStore interface {
	RemoteKeys(ctx context.Context, serverName string) ([]storage.RemoteKey, error)
	StoreRemoteKeys(ctx context.Context, keys []storage.RemoteKey) error
}

// KeyClient fetches a server's self-signed keys directly from it.
type KeyClient interface {
	GetServerKeys(ctx context.Context, serverName spec.ServerName) (gomatrixserverlib.ServerKeys, error)
}

// refetchInterval bounds how often one server's keys are fetched when a key
// it signed with is unknown, so forged requests cannot make us hammer it.
const refetchInterval = 5 * time.Second

// KeyRing verifies JSON signed by any server: our own keys from the
// Identity, other servers' keys from the store, fetched directly from the
// server and cached when missing or expired.
//
// It implements gomatrixserverlib.JSONVerifier.
type KeyRing struct {
	id     *Identity
	store  RemoteKeyStore
	client KeyClient

	mu        sync.Mutex
	inflight  map[spec.ServerName]*fetchCall
	lastFetch map[spec.ServerName]time.Time
}

type fetchCall struct {
	done chan struct{}
	err  error
}

var _ gomatrixserverlib.JSONVerifier = (*KeyRing)(nil)

// NewKeyRing returns a KeyRing for the given identity, cache and client.
func NewKeyRing(id *Identity, store RemoteKeyStore, client KeyClient) *KeyRing {
	return &KeyRing{
		id: id, store: store, client: client,
		inflight:  map[spec.ServerName]*fetchCall{},
		lastFetch: map[spec.ServerName]time.Time{},
	}
}

// ErrKeyNotFound is returned (wrapped) when no usable key could be found
// for a signature.
var ErrKeyNotFound = errors.New("federation: no valid key for signature")

// VerifyJSONs checks each request's message for a valid signature by its
// server with a key valid at AtTS. Per-request failures are in the
// results; the error is only for failures to consult the store.
func (k *KeyRing) VerifyJSONs(ctx context.Context, requests []gomatrixserverlib.VerifyJSONRequest) ([]gomatrixserverlib.VerifyJSONResult, error) {
	results := make([]gomatrixserverlib.VerifyJSONResult, len(requests))
	for i, req := range requests {
		results[i].Error = k.verifyOne(ctx, req)
	}
	return results, nil
}

func (k *KeyRing) verifyOne(ctx context.Context, req gomatrixserverlib.VerifyJSONRequest) error {
	ids, err := gomatrixserverlib.ListKeyIDs(string(req.ServerName), req.Message)
	if err != nil {
		return fmt.Errorf("federation: read signatures: %w", err)
	}
	var lastErr error = fmt.Errorf("%w: not signed by %s with ed25519", ErrKeyNotFound, req.ServerName)
	for _, keyID := range ids {
		if !strings.HasPrefix(string(keyID), "ed25519:") {
			continue
		}
		pub, err := k.PublicKey(ctx, req.ServerName, keyID, req.AtTS)
		if err != nil {
			lastErr = err
			continue
		}
		if err := gomatrixserverlib.VerifyJSON(string(req.ServerName), keyID, pub, req.Message); err != nil {
			lastErr = fmt.Errorf("federation: bad signature by %s %s: %w", req.ServerName, keyID, err)
			continue
		}
		return nil
	}
	return lastErr
}

// PublicKey returns the key a server signed with, valid at atTS, fetching
// it when the cache has none.
func (k *KeyRing) PublicKey(ctx context.Context, server spec.ServerName, keyID gomatrixserverlib.KeyID, atTS spec.Timestamp) (ed25519.PublicKey, error) {
	if server == k.id.ServerName {
		if pub := k.id.publicKeyFor(keyID, atTS); pub != nil {
			return pub, nil
		}
		return nil, fmt.Errorf("%w: %s %s", ErrKeyNotFound, server, keyID)
	}
	if pub, err := k.cached(ctx, server, keyID, atTS); err != nil || pub != nil {
		return pub, err
	}
	if err := k.fetch(ctx, server); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrKeyNotFound, server, keyID, err)
	}
	pub, err := k.cached(ctx, server, keyID, atTS)
	if err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, fmt.Errorf("%w: %s %s valid at %d", ErrKeyNotFound, server, keyID, atTS)
	}
	return pub, nil
}

func (k *KeyRing) cached(ctx context.Context, server spec.ServerName, keyID gomatrixserverlib.KeyID, atTS spec.Timestamp) (ed25519.PublicKey, error) {
	keys, err := k.store.RemoteKeys(ctx, string(server))
	if err != nil {
		return nil, fmt.Errorf("federation: read cached keys: %w", err)
	}
	for _, rk := range keys {
		if rk.KeyID == string(keyID) && keyValidAt(rk, atTS) && len(rk.PublicKey) == ed25519.PublicKeySize {
			return ed25519.PublicKey(rk.PublicKey), nil
		}
	}
	return nil, nil
}

// keyValidAt: a current key is usable up to its valid_until_ts, an old key
// up to its expired_ts.
func keyValidAt(rk storage.RemoteKey, atTS spec.Timestamp) bool {
	if rk.ExpiredTS != 0 {
		return int64(atTS) <= rk.ExpiredTS
	}
	return int64(atTS) <= rk.ValidUntilTS
}

// fetch downloads a server's keys once, however many callers ask at the
// same time, and at most once per refetchInterval.
func (k *KeyRing) fetch(ctx context.Context, server spec.ServerName) error {
	k.mu.Lock()
	if call, ok := k.inflight[server]; ok {
		k.mu.Unlock()
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if last, ok := k.lastFetch[server]; ok && time.Since(last) < refetchInterval {
		k.mu.Unlock()
		return errors.New("fetched recently")
	}
	call := &fetchCall{done: make(chan struct{})}
	k.inflight[server] = call
	k.mu.Unlock()

	call.err = k.fetchNow(ctx, server)

	k.mu.Lock()
	delete(k.inflight, server)
	k.lastFetch[server] = time.Now()
	k.mu.Unlock()
	close(call.done)
	return call.err
}

func (k *KeyRing) fetchNow(ctx context.Context, server spec.ServerName) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	keys, err := k.client.GetServerKeys(ctx, server)
	if err != nil {
		return err
	}
	rks, err := checkServerKeys(server, keys)
	if err != nil {
		return err
	}
	return k.store.StoreRemoteKeys(ctx, rks)
}

// checkServerKeys checks a /key/v2/server response really comes from
// server (name matches, self-signed by every verify key) and turns it into
// cache records.
func checkServerKeys(server spec.ServerName, keys gomatrixserverlib.ServerKeys) ([]storage.RemoteKey, error) {
	if keys.ServerName != server {
		return nil, fmt.Errorf("key response names %q, not %q", keys.ServerName, server)
	}
	if len(keys.VerifyKeys) == 0 {
		return nil, errors.New("key response has no verify_keys")
	}
	var out []storage.RemoteKey
	for keyID, vk := range keys.VerifyKeys {
		if len(vk.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %s is not an ed25519 key", keyID)
		}
		if err := gomatrixserverlib.VerifyJSON(string(server), keyID, ed25519.PublicKey(vk.Key), keys.Raw); err != nil {
			return nil, fmt.Errorf("key response not self-signed by %s: %w", keyID, err)
		}
		out = append(out, storage.RemoteKey{
			ServerName: string(server), KeyID: string(keyID), PublicKey: vk.Key,
			ValidUntilTS: int64(keys.ValidUntilTS), Response: keys.Raw,
		})
	}
	for keyID, ok := range keys.OldVerifyKeys {
		if len(ok.Key) != ed25519.PublicKeySize {
			continue
		}
		out = append(out, storage.RemoteKey{
			ServerName: string(server), KeyID: string(keyID), PublicKey: ok.Key,
			ValidUntilTS: int64(ok.ExpiredTS), ExpiredTS: int64(ok.ExpiredTS), Response: keys.Raw,
		})
	}
	return out, nil
}
