package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/embedmatrix/homeserver/storage"
)

// maxChain bounds how many deltas a snapshot may sit on before the store
// writes a full copy instead, so reading a snapshot stays cheap.
const maxChain = 32

// querier is what both a pool and a transaction offer to run a query.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// WriteSnapshot stores a room state as a delta over parent (0 for none).
// A delta whose parent chain is already maxChain long is stored as a full
// copy instead. Within delta, a later entry for a key wins. Snapshots never
// change once written, so writers need no lock.
func (s *Store) WriteSnapshot(ctx context.Context, roomID string, parent int64, delta []storage.StateEntry) (int64, error) {
	if parent != 0 && len(delta) == 0 {
		return parent, nil
	}
	var id int64
	err := s.write(ctx, "write snapshot", func(tx pgx.Tx) error {
		chain := 0
		if parent != 0 {
			if err := tx.QueryRow(ctx, `SELECT chain_len FROM state_snapshots WHERE snapshot_id = $1`, parent).Scan(&chain); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return notFound(fmt.Sprintf("snapshot %d", parent))
				}
				return err
			}
			chain++
		}
		entries := lastWins(delta)
		parentID := &parent
		if parent == 0 || chain >= maxChain {
			var base []storage.StateEntry
			if parent != 0 {
				var err error
				if base, err = readSnapshot(ctx, tx, parent); err != nil {
					return err
				}
			}
			entries = storage.ApplyDelta(base, entries)
			parentID, chain = nil, 0
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO state_snapshots (room_id, parent_id, chain_len) VALUES ($1, $2, $3)
			RETURNING snapshot_id`, bs(roomID), parentID, chain).Scan(&id); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		types := make([]bs, len(entries))
		keys := make([]bs, len(entries))
		events := make([]bs, len(entries))
		for i, e := range entries {
			types[i], keys[i], events[i] = bs(e.Type), bs(e.StateKey), bs(e.EventID)
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO state_snapshot_entries (snapshot_id, type, state_key, event_id)
			SELECT $1::bigint, t, k, e FROM unnest($2::bytea[], $3::bytea[], $4::bytea[]) AS u(t, k, e)`,
			id, types, keys, events)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// lastWins returns delta with one entry per key: the last one given for
// it, in the place of the key's first entry.
func lastWins(delta []storage.StateEntry) []storage.StateEntry {
	at := make(map[[2]string]int, len(delta))
	out := make([]storage.StateEntry, 0, len(delta))
	for _, d := range delta {
		k := [2]string{d.Type, d.StateKey}
		if i, ok := at[k]; ok {
			out[i] = d
			continue
		}
		at[k] = len(out)
		out = append(out, d)
	}
	return out
}

// Snapshot returns the full state of a snapshot, sorted by (type,
// state_key) in byte order, or an error matching storage.ErrNotFound.
func (s *Store) Snapshot(ctx context.Context, id int64) ([]storage.StateEntry, error) {
	out, err := readSnapshot(ctx, s.pool, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: snapshot %d: %w", id, err)
	}
	return out, nil
}

// readSnapshot resolves a snapshot's delta chain in one query: for each key
// the entry nearest the snapshot wins, and removals drop the key.
func readSnapshot(ctx context.Context, q querier, id int64) ([]storage.StateEntry, error) {
	rows, err := q.Query(ctx, `
		WITH RECURSIVE chain (id, parent, lvl) AS (
			SELECT snapshot_id, parent_id, 0 FROM state_snapshots WHERE snapshot_id = $1
			UNION ALL
			SELECT s.snapshot_id, s.parent_id, c.lvl + 1 FROM state_snapshots s JOIN chain c ON s.snapshot_id = c.parent
		), nearest AS (
			SELECT DISTINCT ON (e.type, e.state_key) e.type, e.state_key, e.event_id
			FROM chain c JOIN state_snapshot_entries e ON e.snapshot_id = c.id
			ORDER BY e.type, e.state_key, c.lvl
		)
		SELECT type, state_key, event_id FROM nearest WHERE event_id <> '' ORDER BY type, state_key`, id)
	if err != nil {
		return nil, err
	}
	out, err := collect(rows, func(rows pgx.Rows) (storage.StateEntry, error) {
		var e storage.StateEntry
		err := rows.Scan(&e.Type, &e.StateKey, &e.EventID)
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if len(out) > 0 {
		return out, nil
	}
	// No entries: an empty state, or no such snapshot. Snapshots are never
	// changed nor removed, so asking apart from the query above is safe.
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM state_snapshots WHERE snapshot_id = $1)`, id).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, notFound(fmt.Sprintf("snapshot %d", id))
	}
	return []storage.StateEntry{}, nil
}
