package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
)

// Room returns a room's record, or an error matching storage.ErrNotFound.
func (s *Store) Room(ctx context.Context, roomID string) (storage.Room, error) {
	r := storage.Room{RoomID: roomID}
	err := s.r.QueryRowContext(ctx,
		`SELECT version, created_ts, current_snapshot FROM rooms WHERE room_id = ?`, roomID).Scan(&r.Version, &r.CreatedTS, &r.CurrentSnapshot)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Room{}, fmt.Errorf("sqlite: room %s: %w", roomID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Room{}, fmt.Errorf("sqlite: room %s: %w", roomID, err)
	}
	return r, nil
}

// Rooms returns every room, oldest first.
func (s *Store) Rooms(ctx context.Context) ([]storage.Room, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT room_id, version, created_ts, current_snapshot FROM rooms ORDER BY created_ts, rowid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rooms: %w", err)
	}
	defer rows.Close()
	var rooms []storage.Room
	for rows.Next() {
		var r storage.Room
		if err := rows.Scan(&r.RoomID, &r.Version, &r.CreatedTS, &r.CurrentSnapshot); err != nil {
			return nil, fmt.Errorf("sqlite: rooms: %w", err)
		}
		rooms = append(rooms, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: rooms: %w", err)
	}
	return rooms, nil
}

// WriteRoom applies w in one transaction and returns the StreamPos of each
// of its events, in order. An event already stored is skipped and its
// existing StreamPos returned. If any event fails (for instance because its
// room does not exist), nothing of w is stored.
func (s *Store) WriteRoom(ctx context.Context, w storage.RoomWrite) ([]int64, error) {
	if err := storage.ValidateRoomWrite(w); err != nil {
		return nil, fmt.Errorf("sqlite: write room: %w", err)
	}
	pos := make([]int64, len(w.Events))
	err := s.write(ctx, "write room", func(tx *sql.Tx) error {
		if w.Room != nil {
			if w.Room.RoomID == "" {
				return errors.New("room with an empty room ID")
			}
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO rooms (room_id, version, created_ts) VALUES (?, ?, ?)
				ON CONFLICT (room_id) DO NOTHING`,
				w.Room.RoomID, w.Room.Version, w.Room.CreatedTS); err != nil {
				return fmt.Errorf("room %s: %w", w.Room.RoomID, err)
			}
			if w.ResetExtremities {
				if _, err := tx.ExecContext(ctx, `DELETE FROM forward_extremities WHERE room_id = ?`, w.Room.RoomID); err != nil {
					return fmt.Errorf("reset extremities: %w", err)
				}
			}
		} else if w.ResetExtremities {
			return errors.New("ResetExtremities without Room")
		}
		for i, u := range w.Events {
			p, err := writeEvent(ctx, tx, u)
			if err != nil {
				return fmt.Errorf("event %d (%s): %w", i, u.Event.EventID, err)
			}
			pos[i] = p
		}
		if err := writeRedactions(ctx, tx, w.Redactions); err != nil {
			return err
		}
		if err := redact(ctx, tx, w.Redact); err != nil {
			return err
		}
		return applyRoomState(ctx, tx, w)
	})
	if err != nil {
		return nil, err
	}
	return pos, nil
}

// writeEvent persists one update inside tx and returns the event's
// StreamPos.
func writeEvent(ctx context.Context, tx *sql.Tx, u storage.EventUpdate) (int64, error) {
	e := u.Event
	if e.EventID == "" {
		return 0, errors.New("empty event ID")
	}
	var (
		pos        int64
		status     string
		before     int64
		redactedBy string
		oldJSON    []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT stream_pos, status, state_before, redacted_by, json FROM events WHERE event_id = ?`,
		e.EventID).Scan(&pos, &status, &before, &redactedBy, &oldJSON)
	switch {
	case err == nil && (status == storage.StatusParked.String() || before == 0 && e.StateBefore != 0):
		// A parked event judged again, or an outlier now placed in the room
		// with its state: drop the old row and store it afresh, so that it
		// gets a new StreamPos. Rows that point at it by event ID (current
		// state, extremities) stay valid: the checks wait for the commit.
		if _, err := tx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
			return 0, err
		}
		for _, q := range []string{
			`DELETE FROM event_edges WHERE event_id = ?`,
			`DELETE FROM relations WHERE event_id = ?`,
			`DELETE FROM events WHERE event_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, e.EventID); err != nil {
				return 0, err
			}
		}
		if redactedBy != "" && e.RedactedBy == "" {
			// Once redacted, an event is never served whole again.
			e.JSON, e.RedactedBy = oldJSON, redactedBy
			u.Event = e
		}
	case err == nil:
		return pos, nil // already stored: left as it is
	case !errors.Is(err, sql.ErrNoRows):
		return 0, err
	}

	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE room_id = ?`, e.RoomID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("room " + e.RoomID)
	}
	if err != nil {
		return 0, err
	}

	prev, err := json.Marshal(nonNilStrings(e.PrevEvents))
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after, redacted_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.EventID, e.RoomID, e.Type, e.StateKey, e.Sender, e.Depth, e.OriginServerTS,
		string(prev), blob(e.JSON), e.Status.String(), e.RejectReason, e.StateBefore, e.StateAfter, e.RedactedBy)
	if err != nil {
		return 0, err
	}
	if pos, err = res.LastInsertId(); err != nil {
		return 0, err
	}

	for _, p := range e.PrevEvents {
		if _, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO event_edges (event_id, prev_event_id) VALUES (?, ?)`, e.EventID, p); err != nil {
			return 0, fmt.Errorf("prev event %s: %w", p, err)
		}
	}

	if r, ok := storage.IndexedRelation(u); ok {
		if err := writeRelation(ctx, tx, r); err != nil {
			return 0, err
		}
	}

	if u.SetState && e.StateKey != nil && e.Status == storage.StatusAccepted {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO current_state (room_id, type, state_key, event_id) VALUES (?, ?, ?, ?)
			ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id`,
			e.RoomID, e.Type, *e.StateKey, e.EventID); err != nil {
			return 0, fmt.Errorf("current state: %w", err)
		}
	}

	if u.Extremity {
		if err := updateExtremities(ctx, tx, e); err != nil {
			return 0, fmt.Errorf("forward extremities: %w", err)
		}
	}

	for _, d := range dedupe(u.Destinations) {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO outbound_queue (destination, kind, payload, event_id) VALUES (?, ?, ?, ?)`,
			d, storage.KindPDU, blob(e.JSON), e.EventID); err != nil {
			return 0, fmt.Errorf("queue for %s: %w", d, err)
		}
	}
	return pos, nil
}

// updateExtremities makes e's prev_events stop being forward extremities
// of its room, and makes e one unless a stored event lists it as a
// prev_event. e and its edges must already be stored in tx.
func updateExtremities(ctx context.Context, tx *sql.Tx, e storage.Event) error {
	for _, p := range e.PrevEvents {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM forward_extremities WHERE room_id = ? AND event_id = ?`, e.RoomID, p); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT OR IGNORE INTO forward_extremities (room_id, event_id)
		SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM event_edges WHERE prev_event_id = ?)`,
		e.RoomID, e.EventID, e.EventID)
	return err
}

// nonNilStrings returns s, or an empty slice for nil, so that it encodes
// as a JSON array.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// dedupe returns the distinct strings of s, in first-seen order.
func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// applyRoomState applies a write's StateDelta and CurrentSnapshot.
func applyRoomState(ctx context.Context, tx *sql.Tx, w storage.RoomWrite) error {
	if len(w.StateDelta) == 0 && w.CurrentSnapshot == 0 {
		return nil
	}
	roomID := ""
	if w.Room != nil {
		roomID = w.Room.RoomID
	} else if len(w.Events) > 0 {
		roomID = w.Events[0].Event.RoomID
	}
	if roomID == "" {
		return errors.New("state change without a room: set Room or include an event")
	}
	for _, d := range w.StateDelta {
		if d.EventID == "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM current_state WHERE room_id = ? AND type = ? AND state_key = ?`,
				roomID, d.Type, d.StateKey); err != nil {
				return fmt.Errorf("current state: %w", err)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO current_state (room_id, type, state_key, event_id) VALUES (?, ?, ?, ?)
			ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id`,
			roomID, d.Type, d.StateKey, d.EventID); err != nil {
			return fmt.Errorf("current state %s/%s: %w", d.Type, d.StateKey, err)
		}
	}
	if w.CurrentSnapshot != 0 {
		res, err := tx.ExecContext(ctx, `UPDATE rooms SET current_snapshot = ? WHERE room_id = ?`, w.CurrentSnapshot, roomID)
		if err != nil {
			return fmt.Errorf("current snapshot: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("room " + roomID)
		}
	}
	return nil
}
