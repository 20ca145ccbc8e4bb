package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// PutReceipt inserts or replaces the receipt for (room, user, type); a
// receipt older (by TS) than the stored one is ignored. Concurrent writers
// of one key are ordered by the row lock ON CONFLICT takes, and each
// compares against the row as the one before it left it, so the newest
// receipt wins.
func (s *Store) PutReceipt(ctx context.Context, r storage.Receipt) error {
	return s.write(ctx, fmt.Sprintf("put %s receipt of %s in %s", r.Type, r.UserID, r.RoomID), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO receipts (room_id, user_id, type, event_id, ts) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (room_id, user_id, type) DO UPDATE SET
				event_id = excluded.event_id,
				ts = excluded.ts
			WHERE excluded.ts >= receipts.ts`,
			bs(r.RoomID), bs(r.UserID), bs(r.Type), bs(r.EventID), r.TS)
		return err
	})
}

// Receipts returns the room's receipts pointing at eventID (all of the
// room's receipts when eventID is empty), ordered by TS, user, type.
func (s *Store) Receipts(ctx context.Context, roomID, eventID string) ([]storage.Receipt, error) {
	q := `SELECT room_id, user_id, type, event_id, ts FROM receipts WHERE room_id = $1`
	args := []any{bs(roomID)}
	if eventID != "" {
		q += ` AND event_id = $2`
		args = append(args, bs(eventID))
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY ts, user_id, type`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: receipts in %s: %w", roomID, err)
	}
	out, err := collect(rows, func(rows pgx.Rows) (storage.Receipt, error) {
		var r storage.Receipt
		err := rows.Scan(&r.RoomID, &r.UserID, &r.Type, &r.EventID, &r.TS)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: receipts in %s: %w", roomID, err)
	}
	return out, nil
}
