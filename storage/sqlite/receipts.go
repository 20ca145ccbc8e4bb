package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaReceipts adds the receipts table: one row per (room, user,
// receipt type), the newest receipt only.
const schemaReceipts = `
CREATE TABLE receipts (
	room_id  TEXT NOT NULL,
	user_id  TEXT NOT NULL,
	type     TEXT NOT NULL,
	event_id TEXT NOT NULL,
	ts       INTEGER NOT NULL,
	PRIMARY KEY (room_id, user_id, type)
) STRICT, WITHOUT ROWID;

-- Receipts: who has read up to one event.
CREATE INDEX receipts_by_event ON receipts (room_id, event_id);
`

// PutReceipt inserts or replaces the receipt for (room, user, type); a
// receipt older (by TS) than the stored one is ignored.
func (s *Store) PutReceipt(ctx context.Context, r storage.Receipt) error {
	return s.write(ctx, fmt.Sprintf("put %s receipt of %s in %s", r.Type, r.UserID, r.RoomID), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO receipts (room_id, user_id, type, event_id, ts) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (room_id, user_id, type) DO UPDATE SET
				event_id = excluded.event_id,
				ts = excluded.ts
			WHERE excluded.ts >= receipts.ts`,
			r.RoomID, r.UserID, r.Type, r.EventID, r.TS)
		return err
	})
}

// Receipts returns the room's receipts pointing at eventID (all of the
// room's receipts when eventID is empty), ordered by TS, user, type.
func (s *Store) Receipts(ctx context.Context, roomID, eventID string) ([]storage.Receipt, error) {
	q := `SELECT room_id, user_id, type, event_id, ts FROM receipts WHERE room_id = ?`
	args := []any{roomID}
	if eventID != "" {
		q += ` AND event_id = ?`
		args = append(args, eventID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY ts, user_id, type`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: receipts in %s: %w", roomID, err)
	}
	defer rows.Close()
	var out []storage.Receipt
	for rows.Next() {
		var r storage.Receipt
		if err := rows.Scan(&r.RoomID, &r.UserID, &r.Type, &r.EventID, &r.TS); err != nil {
			return nil, fmt.Errorf("sqlite: receipts in %s: %w", roomID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: receipts in %s: %w", roomID, err)
	}
	return out, nil
}
