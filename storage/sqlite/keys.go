package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
)

// SigningKeys returns this server's own keys: the current one (ExpiredTS
// zero) first, then the old ones, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT key_id, seed, created_ts, expired_ts FROM signing_keys
		ORDER BY expired_ts != 0, created_ts DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	defer rows.Close()
	var keys []storage.SigningKey
	for rows.Next() {
		var k storage.SigningKey
		if err := rows.Scan(&k.KeyID, &k.Seed, &k.CreatedTS, &k.ExpiredTS); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	return keys, nil
}

// AddSigningKey stores a new key of this server. A key ID already stored
// is an error.
func (s *Store) AddSigningKey(ctx context.Context, key storage.SigningKey) error {
	return s.write(ctx, "add signing key "+key.KeyID, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO signing_keys (key_id, seed, created_ts, expired_ts) VALUES (?, ?, ?, ?)`,
			key.KeyID, blob(key.Seed), key.CreatedTS, key.ExpiredTS)
		return err
	})
}

// ExpireSigningKey marks one of this server's keys as old from expiredTS.
// It returns an error matching storage.ErrNotFound for an unknown key.
func (s *Store) ExpireSigningKey(ctx context.Context, keyID string, expiredTS int64) error {
	return s.write(ctx, "expire signing key "+keyID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE signing_keys SET expired_ts = ? WHERE key_id = ?`, expiredTS, keyID)
		if err != nil {
			return err
		}
		return mustAffect(res, "signing key "+keyID)
	})
}

// RemoteKeys returns every cached key of serverName, whatever its
// validity, ordered by key ID.
func (s *Store) RemoteKeys(ctx context.Context, serverName string) ([]storage.RemoteKey, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT key_id, public_key, valid_until_ts, expired_ts, response
		FROM remote_keys WHERE server_name = ? ORDER BY key_id`, serverName)
	if err != nil {
		return nil, fmt.Errorf("sqlite: remote keys of %s: %w", serverName, err)
	}
	defer rows.Close()
	var keys []storage.RemoteKey
	for rows.Next() {
		k := storage.RemoteKey{ServerName: serverName}
		if err := rows.Scan(&k.KeyID, &k.PublicKey, &k.ValidUntilTS, &k.ExpiredTS, &k.Response); err != nil {
			return nil, fmt.Errorf("sqlite: remote keys of %s: %w", serverName, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: remote keys of %s: %w", serverName, err)
	}
	return keys, nil
}

// StoreRemoteKeys inserts or replaces keys by (server name, key ID),
// all or none. A key already cached with a later ValidUntilTS is kept.
func (s *Store) StoreRemoteKeys(ctx context.Context, keys []storage.RemoteKey) error {
	if len(keys) == 0 {
		return nil
	}
	return s.write(ctx, "store remote keys", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO remote_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, response)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (server_name, key_id) DO UPDATE SET
				public_key = excluded.public_key,
				valid_until_ts = excluded.valid_until_ts,
				expired_ts = excluded.expired_ts,
				response = excluded.response
			WHERE excluded.valid_until_ts >= remote_keys.valid_until_ts`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, k := range keys {
			if _, err := stmt.ExecContext(ctx, k.ServerName, k.KeyID, blob(k.PublicKey),
				k.ValidUntilTS, k.ExpiredTS, blob(k.Response)); err != nil {
				return fmt.Errorf("key %s of %s: %w", k.KeyID, k.ServerName, err)
			}
		}
		return nil
	})
}

// mustAffect returns an error matching storage.ErrNotFound about what if
// res changed no row.
func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}
