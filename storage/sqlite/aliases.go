package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaAliases adds this server's room aliases (servers is a JSON array
// of server names) and the rooms published in its public room directory.
const schemaAliases = `
CREATE TABLE room_aliases (
	alias      TEXT PRIMARY KEY,
	room_id    TEXT NOT NULL,
	servers    TEXT NOT NULL,
	creator    TEXT NOT NULL,
	created_ts INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- RoomAliases: the aliases of one room.
CREATE INDEX room_aliases_by_room ON room_aliases (room_id, alias);

CREATE TABLE published_rooms (
	room_id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
`

// PutAlias creates an alias; one that exists already matches
// storage.ErrExists.
func (s *Store) PutAlias(ctx context.Context, a storage.Alias) error {
	servers, err := json.Marshal(nonNilStrings(a.Servers))
	if err != nil {
		return fmt.Errorf("sqlite: put alias %s: %w", a.Alias, err)
	}
	return s.write(ctx, "put alias "+a.Alias, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO room_aliases (alias, room_id, servers, creator, created_ts) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (alias) DO NOTHING`,
			a.Alias, a.RoomID, string(servers), a.Creator, a.CreatedTS)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("alias %s: %w", a.Alias, storage.ErrExists)
		}
		return nil
	})
}

// Alias returns an alias's record.
func (s *Store) Alias(ctx context.Context, alias string) (storage.Alias, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT alias, room_id, servers, creator, created_ts FROM room_aliases WHERE alias = ?`, alias)
	if err != nil {
		return storage.Alias{}, fmt.Errorf("sqlite: alias %s: %w", alias, err)
	}
	out, err := scanAliases(rows)
	if err != nil {
		return storage.Alias{}, fmt.Errorf("sqlite: alias %s: %w", alias, err)
	}
	if len(out) == 0 {
		return storage.Alias{}, notFound("sqlite: alias " + alias)
	}
	return out[0], nil
}

// RoomAliases returns the aliases of a room, sorted by alias.
func (s *Store) RoomAliases(ctx context.Context, roomID string) ([]storage.Alias, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT alias, room_id, servers, creator, created_ts FROM room_aliases
		WHERE room_id = ? ORDER BY alias`, roomID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: aliases of %s: %w", roomID, err)
	}
	out, err := scanAliases(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: aliases of %s: %w", roomID, err)
	}
	return out, nil
}

func scanAliases(rows *sql.Rows) ([]storage.Alias, error) {
	defer rows.Close()
	var out []storage.Alias
	for rows.Next() {
		var a storage.Alias
		var servers string
		if err := rows.Scan(&a.Alias, &a.RoomID, &servers, &a.Creator, &a.CreatedTS); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(servers), &a.Servers); err != nil {
			return nil, fmt.Errorf("servers of %s: %w", a.Alias, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAlias removes an alias; a missing one matches storage.ErrNotFound.
func (s *Store) DeleteAlias(ctx context.Context, alias string) error {
	return s.write(ctx, "delete alias "+alias, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM room_aliases WHERE alias = ?`, alias)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("alias " + alias)
		}
		return nil
	})
}

// SetPublished puts a room in the public room directory or takes it out.
func (s *Store) SetPublished(ctx context.Context, roomID string, published bool) error {
	return s.write(ctx, "publish "+roomID, func(tx *sql.Tx) error {
		q := `DELETE FROM published_rooms WHERE room_id = ?`
		if published {
			q = `INSERT INTO published_rooms (room_id) VALUES (?) ON CONFLICT DO NOTHING`
		}
		_, err := tx.ExecContext(ctx, q, roomID)
		return err
	})
}

// PublishedRooms returns the IDs of the published rooms, sorted.
func (s *Store) PublishedRooms(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT room_id FROM published_rooms ORDER BY room_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: published rooms: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: published rooms: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: published rooms: %w", err)
	}
	return out, nil
}
