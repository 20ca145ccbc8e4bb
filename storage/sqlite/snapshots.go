package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/embedmatrix/homeserver/storage"
)

// maxChain bounds how many deltas a snapshot may sit on before the store
// writes a full copy instead, so reading a snapshot stays cheap.
const maxChain = 32

// WriteSnapshot stores a room state as a delta over parent (0 for none).
// A delta whose parent chain is already maxChain long is stored as a full
// copy instead.
func (s *Store) WriteSnapshot(ctx context.Context, roomID string, parent int64, delta []storage.StateEntry) (int64, error) {
	if parent != 0 && len(delta) == 0 {
		return parent, nil
	}
	var id int64
	err := s.write(ctx, "write snapshot", func(tx *sql.Tx) error {
		chain := 0
		if parent != 0 {
			if err := tx.QueryRowContext(ctx, `SELECT chain_len FROM state_snapshots WHERE snapshot_id = ?`, parent).Scan(&chain); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return notFound(fmt.Sprintf("snapshot %d", parent))
				}
				return err
			}
			chain++
		}
		entries := delta
		var parentID any = parent
		if parent == 0 || chain >= maxChain {
			var base []storage.StateEntry
			if parent != 0 {
				var err error
				if base, err = readSnapshot(ctx, tx, parent); err != nil {
					return err
				}
			}
			entries = storage.ApplyDelta(base, delta)
			parentID, chain = nil, 0
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO state_snapshots (room_id, parent_id, chain_len) VALUES (?, ?, ?)`,
			roomID, parentID, chain)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO state_snapshot_entries (snapshot_id, type, state_key, event_id) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range entries {
			if _, err := stmt.ExecContext(ctx, id, e.Type, e.StateKey, e.EventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Snapshot returns the full state of a snapshot, sorted.
func (s *Store) Snapshot(ctx context.Context, id int64) ([]storage.StateEntry, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: snapshot %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	out, err := readSnapshot(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: snapshot %d: %w", id, err)
	}
	return out, nil
}

// readSnapshot resolves a snapshot's delta chain: for each key the entry
// nearest the snapshot wins, and removals drop the key.
func readSnapshot(ctx context.Context, tx *sql.Tx, id int64) ([]storage.StateEntry, error) {
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM state_snapshots WHERE snapshot_id = ?`, id).Scan(&exists); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound(fmt.Sprintf("snapshot %d", id))
		}
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `
		WITH RECURSIVE chain(id, parent, lvl) AS (
			SELECT snapshot_id, parent_id, 0 FROM state_snapshots WHERE snapshot_id = ?
			UNION ALL
			SELECT s.snapshot_id, s.parent_id, c.lvl + 1 FROM state_snapshots s JOIN chain c ON s.snapshot_id = c.parent
		)
		SELECT e.type, e.state_key, e.event_id, c.lvl
		FROM chain c JOIN state_snapshot_entries e ON e.snapshot_id = c.id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type entry struct {
		eventID string
		lvl     int
	}
	best := map[[2]string]entry{}
	for rows.Next() {
		var t, k, ev string
		var lvl int
		if err := rows.Scan(&t, &k, &ev, &lvl); err != nil {
			return nil, err
		}
		key := [2]string{t, k}
		if cur, ok := best[key]; !ok || lvl < cur.lvl {
			best[key] = entry{ev, lvl}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]storage.StateEntry, 0, len(best))
	for k, v := range best {
		if v.eventID != "" {
			out = append(out, storage.StateEntry{Type: k[0], StateKey: k[1], EventID: v.eventID})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].StateKey < out[j].StateKey
	})
	return out, nil
}
