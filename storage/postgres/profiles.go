package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaProfiles adds our users' profiles and the cache of other servers'
// users' profiles, one row per user each.
const schemaProfiles = `
CREATE TABLE local_profiles (
	user_id      BYTEA PRIMARY KEY,
	display_name BYTEA NOT NULL,
	avatar_url   BYTEA NOT NULL,
	updated_ts   BIGINT NOT NULL
);

CREATE TABLE remote_profiles (
	user_id      BYTEA PRIMARY KEY,
	display_name BYTEA NOT NULL,
	avatar_url   BYTEA NOT NULL,
	fetched_ts   BIGINT NOT NULL
);
`

// SetLocalProfile inserts or replaces one of our users' profiles.
func (s *Store) SetLocalProfile(ctx context.Context, p storage.Profile) error {
	return s.write(ctx, "set the profile of "+p.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO local_profiles (user_id, display_name, avatar_url, updated_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id) DO UPDATE SET
				display_name = excluded.display_name, avatar_url = excluded.avatar_url, updated_ts = excluded.updated_ts`,
			bs(p.UserID), bs(p.DisplayName), bs(p.AvatarURL), p.TS)
		return err
	})
}

// LocalProfile returns one of our users' profiles, or an error matching
// storage.ErrNotFound.
func (s *Store) LocalProfile(ctx context.Context, userID string) (storage.Profile, error) {
	return s.profile(ctx, `SELECT user_id, display_name, avatar_url, updated_ts FROM local_profiles WHERE user_id = $1`, userID)
}

// CacheRemoteProfile inserts or replaces the cached profile of another
// server's user.
func (s *Store) CacheRemoteProfile(ctx context.Context, p storage.Profile) error {
	return s.write(ctx, "cache the profile of "+p.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO remote_profiles (user_id, display_name, avatar_url, fetched_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id) DO UPDATE SET
				display_name = excluded.display_name, avatar_url = excluded.avatar_url, fetched_ts = excluded.fetched_ts`,
			bs(p.UserID), bs(p.DisplayName), bs(p.AvatarURL), p.TS)
		return err
	})
}

// RemoteProfile returns the cached profile of another server's user, or an
// error matching storage.ErrNotFound.
func (s *Store) RemoteProfile(ctx context.Context, userID string) (storage.Profile, error) {
	return s.profile(ctx, `SELECT user_id, display_name, avatar_url, fetched_ts FROM remote_profiles WHERE user_id = $1`, userID)
}

// profile reads one profile row with query, which takes the user ID.
func (s *Store) profile(ctx context.Context, query, userID string) (storage.Profile, error) {
	var p storage.Profile
	err := s.pool.QueryRow(ctx, query, bs(userID)).Scan(&p.UserID, &p.DisplayName, &p.AvatarURL, &p.TS)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Profile{}, fmt.Errorf("postgres: profile of %s: %w", userID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Profile{}, fmt.Errorf("postgres: profile of %s: %w", userID, err)
	}
	return p, nil
}
