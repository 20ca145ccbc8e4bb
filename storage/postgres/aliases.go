package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaAliases adds this server's room aliases and the rooms published in
// its public room directory.
const schemaAliases = `
CREATE TABLE room_aliases (
	alias      BYTEA PRIMARY KEY,
	room_id    BYTEA NOT NULL,
	servers    BYTEA[] NOT NULL,
	creator    BYTEA NOT NULL,
	created_ts BIGINT NOT NULL
);

-- RoomAliases: the aliases of one room.
CREATE INDEX room_aliases_by_room ON room_aliases (room_id, alias);

CREATE TABLE published_rooms (
	room_id BYTEA PRIMARY KEY
);
`

// PutAlias creates an alias; one that exists already matches
// storage.ErrExists.
func (s *Store) PutAlias(ctx context.Context, a storage.Alias) error {
	return s.write(ctx, "put alias "+a.Alias, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO room_aliases (alias, room_id, servers, creator, created_ts) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (alias) DO NOTHING`,
			bs(a.Alias), bs(a.RoomID), bss(a.Servers), bs(a.Creator), a.CreatedTS)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("alias %s: %w", a.Alias, storage.ErrExists)
		}
		return nil
	})
}

func scanAlias(rows pgx.Rows) (storage.Alias, error) {
	var a storage.Alias
	err := rows.Scan(&a.Alias, &a.RoomID, &a.Servers, &a.Creator, &a.CreatedTS)
	if a.Servers == nil {
		a.Servers = []string{}
	}
	return a, err
}

// Alias returns an alias's record.
func (s *Store) Alias(ctx context.Context, alias string) (storage.Alias, error) {
	rows, err := s.pool.Query(ctx, `SELECT alias, room_id, servers, creator, created_ts FROM room_aliases WHERE alias = $1`, bs(alias))
	if err != nil {
		return storage.Alias{}, fmt.Errorf("postgres: alias %s: %w", alias, err)
	}
	out, err := collect(rows, scanAlias)
	if err != nil {
		return storage.Alias{}, fmt.Errorf("postgres: alias %s: %w", alias, err)
	}
	if len(out) == 0 {
		return storage.Alias{}, notFound("postgres: alias " + alias)
	}
	return out[0], nil
}

// RoomAliases returns the aliases of a room, sorted by alias.
func (s *Store) RoomAliases(ctx context.Context, roomID string) ([]storage.Alias, error) {
	rows, err := s.pool.Query(ctx, `SELECT alias, room_id, servers, creator, created_ts FROM room_aliases
		WHERE room_id = $1 ORDER BY alias`, bs(roomID))
	if err != nil {
		return nil, fmt.Errorf("postgres: aliases of %s: %w", roomID, err)
	}
	out, err := collect(rows, scanAlias)
	if err != nil {
		return nil, fmt.Errorf("postgres: aliases of %s: %w", roomID, err)
	}
	return out, nil
}

// DeleteAlias removes an alias; a missing one matches storage.ErrNotFound.
func (s *Store) DeleteAlias(ctx context.Context, alias string) error {
	return s.write(ctx, "delete alias "+alias, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM room_aliases WHERE alias = $1`, bs(alias))
		if err != nil {
			return err
		}
		return mustAffect(tag, "alias "+alias)
	})
}

// SetPublished puts a room in the public room directory or takes it out.
func (s *Store) SetPublished(ctx context.Context, roomID string, published bool) error {
	return s.write(ctx, "publish "+roomID, func(tx pgx.Tx) error {
		q := `DELETE FROM published_rooms WHERE room_id = $1`
		if published {
			q = `INSERT INTO published_rooms (room_id) VALUES ($1) ON CONFLICT DO NOTHING`
		}
		_, err := tx.Exec(ctx, q, bs(roomID))
		return err
	})
}

// PublishedRooms returns the IDs of the published rooms, sorted.
func (s *Store) PublishedRooms(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT room_id FROM published_rooms ORDER BY room_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: published rooms: %w", err)
	}
	out, err := collect(rows, func(rows pgx.Rows) (string, error) {
		var id string
		err := rows.Scan(&id)
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: published rooms: %w", err)
	}
	return out, nil
}
