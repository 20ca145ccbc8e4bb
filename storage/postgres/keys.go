package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// SigningKeys returns this server's own keys: the current one (ExpiredTS
// zero) first, then the old ones, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT key_id, seed, created_ts, expired_ts FROM signing_keys
		ORDER BY expired_ts <> 0, created_ts DESC, seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	keys, err := collect(rows, func(rows pgx.Rows) (storage.SigningKey, error) {
		var k storage.SigningKey
		err := rows.Scan(&k.KeyID, &k.Seed, &k.CreatedTS, &k.ExpiredTS)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	return keys, nil
}

// AddSigningKey stores a new key of this server. A key ID already stored
// is an error.
func (s *Store) AddSigningKey(ctx context.Context, key storage.SigningKey) error {
	return s.write(ctx, "add signing key "+key.KeyID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO signing_keys (key_id, seed, created_ts, expired_ts) VALUES ($1, $2, $3, $4)`,
			bs(key.KeyID), blob(key.Seed), key.CreatedTS, key.ExpiredTS)
		return err
	})
}

// ExpireSigningKey marks one of this server's keys as old from expiredTS.
// It returns an error matching storage.ErrNotFound for an unknown key.
func (s *Store) ExpireSigningKey(ctx context.Context, keyID string, expiredTS int64) error {
	return s.write(ctx, "expire signing key "+keyID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET expired_ts = $1 WHERE key_id = $2`, expiredTS, bs(keyID))
		if err != nil {
			return err
		}
		return mustAffect(tag, "signing key "+keyID)
	})
}

// RemoteKeys returns every cached key of serverName, whatever its
// validity, ordered by key ID.
func (s *Store) RemoteKeys(ctx context.Context, serverName string) ([]storage.RemoteKey, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT key_id, public_key, valid_until_ts, expired_ts, response
		FROM remote_keys WHERE server_name = $1 ORDER BY key_id`, bs(serverName))
	if err != nil {
		return nil, fmt.Errorf("postgres: remote keys of %s: %w", serverName, err)
	}
	keys, err := collect(rows, func(rows pgx.Rows) (storage.RemoteKey, error) {
		k := storage.RemoteKey{ServerName: serverName}
		err := rows.Scan(&k.KeyID, &k.PublicKey, &k.ValidUntilTS, &k.ExpiredTS, &k.Response)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: remote keys of %s: %w", serverName, err)
	}
	return keys, nil
}

// StoreRemoteKeys inserts or replaces keys by (server name, key ID),
// all or none. A key already cached with a later ValidUntilTS is kept.
// Keys are written in (server, key ID) order, so two calls storing the
// same keys at once wait for each other instead of deadlocking; for one
// key given twice, the later one is written last, as in storage/sqlite.
func (s *Store) StoreRemoteKeys(ctx context.Context, keys []storage.RemoteKey) error {
	if len(keys) == 0 {
		return nil
	}
	ordered := slices.Clone(keys)
	slices.SortStableFunc(ordered, func(a, b storage.RemoteKey) int {
		return cmp.Or(cmp.Compare(a.ServerName, b.ServerName), cmp.Compare(a.KeyID, b.KeyID))
	})
	return s.write(ctx, "store remote keys", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, k := range ordered {
			b.Queue(`
				INSERT INTO remote_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, response)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (server_name, key_id) DO UPDATE SET
					public_key = excluded.public_key,
					valid_until_ts = excluded.valid_until_ts,
					expired_ts = excluded.expired_ts,
					response = excluded.response
				WHERE excluded.valid_until_ts >= remote_keys.valid_until_ts`,
				bs(k.ServerName), bs(k.KeyID), blob(k.PublicKey), k.ValidUntilTS, k.ExpiredTS, blob(k.Response))
		}
		br := tx.SendBatch(ctx, b)
		for _, k := range ordered {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return fmt.Errorf("key %s of %s: %w", k.KeyID, k.ServerName, err)
			}
		}
		return br.Close()
	})
}
