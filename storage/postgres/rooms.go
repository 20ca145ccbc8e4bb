package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// Room returns a room's record, or an error matching storage.ErrNotFound.
func (s *Store) Room(ctx context.Context, roomID string) (storage.Room, error) {
	r := storage.Room{RoomID: roomID}
	err := s.pool.QueryRow(ctx,
		`SELECT version, created_ts, current_snapshot FROM rooms WHERE room_id = $1`, bs(roomID)).Scan(&r.Version, &r.CreatedTS, &r.CurrentSnapshot)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Room{}, fmt.Errorf("postgres: room %s: %w", roomID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Room{}, fmt.Errorf("postgres: room %s: %w", roomID, err)
	}
	return r, nil
}

// Rooms returns every room, oldest first (rooms created at the same time
// in the order they were stored).
func (s *Store) Rooms(ctx context.Context) ([]storage.Room, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT room_id, version, created_ts, current_snapshot FROM rooms ORDER BY created_ts, seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres: rooms: %w", err)
	}
	rooms, err := collect(rows, func(rows pgx.Rows) (storage.Room, error) {
		var r storage.Room
		err := rows.Scan(&r.RoomID, &r.Version, &r.CreatedTS, &r.CurrentSnapshot)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: rooms: %w", err)
	}
	return rooms, nil
}

// WriteRoom applies w in one transaction and returns the StreamPos of each
// of its events, in order. An event already stored is skipped and its
// existing StreamPos returned, except a parked event and an outlier
// written again with a StateBefore, which are replaced and get a new
// StreamPos. If any event fails (for instance because its room does not
// exist), nothing of w is stored.
//
// The transaction first locks every room w touches, so writers of one
// room, in this process or another, run one at a time.
func (s *Store) WriteRoom(ctx context.Context, w storage.RoomWrite) ([]int64, error) {
	if w.Room != nil && w.Room.RoomID == "" {
		return nil, errors.New("postgres: write room: room with an empty room ID")
	}
	if err := storage.ValidateRoomWrite(w); err != nil {
		return nil, fmt.Errorf("postgres: write room: %w", err)
	}
	locked := make([]string, 0, len(w.Events)+1)
	if w.Room != nil {
		locked = append(locked, w.Room.RoomID)
	}
	for _, u := range w.Events {
		locked = append(locked, u.Event.RoomID)
	}

	pos := make([]int64, len(w.Events))
	err := s.write(ctx, "write room", func(tx pgx.Tx) error {
		if err := lockAll(ctx, tx, lockRoom, locked...); err != nil {
			return err
		}
		if w.Room != nil {
			if _, err := tx.Exec(ctx, `
				INSERT INTO rooms (room_id, version, created_ts) VALUES ($1, $2, $3)
				ON CONFLICT (room_id) DO NOTHING`,
				bs(w.Room.RoomID), bs(w.Room.Version), w.Room.CreatedTS); err != nil {
				return fmt.Errorf("room %s: %w", w.Room.RoomID, err)
			}
			if w.ResetExtremities {
				if _, err := tx.Exec(ctx, `DELETE FROM forward_extremities WHERE room_id = $1`, bs(w.Room.RoomID)); err != nil {
					return fmt.Errorf("reset extremities: %w", err)
				}
			}
		} else if w.ResetExtremities {
			return errors.New("ResetExtremities without Room")
		}
		rooms := map[string]bool{} // rooms known to exist in this transaction
		for i, u := range w.Events {
			p, err := writeEvent(ctx, tx, u, rooms)
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

// writeEvent persists one update inside tx, which holds the lock of the
// event's room, and returns the event's StreamPos. rooms caches the rooms
// already found in tx.
func writeEvent(ctx context.Context, tx pgx.Tx, u storage.EventUpdate, rooms map[string]bool) (int64, error) {
	e := u.Event
	if e.EventID == "" {
		return 0, errors.New("empty event ID")
	}
	var (
		pos     int64
		status  string
		before  int64
		replace bool
	)
	err := tx.QueryRow(ctx, `SELECT stream_pos, status, state_before FROM events WHERE event_id = $1`,
		bs(e.EventID)).Scan(&pos, &status, &before)
	switch {
	case err == nil && (status == storage.StatusParked.String() || before == 0 && e.StateBefore != 0):
		// A parked event judged again, or an outlier now placed in the room
		// with its state: store it afresh over the old row, with a new
		// StreamPos. Rows that point at it by event ID (current state,
		// extremities) stay valid.
		replace = true
	case err == nil:
		return pos, nil // already stored: left as it is
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, err
	}

	if !rooms[e.RoomID] {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM rooms WHERE room_id = $1`, bs(e.RoomID)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, notFound("room " + e.RoomID)
		}
		if err != nil {
			return 0, err
		}
		rooms[e.RoomID] = true
	}

	// One argument list for both statements below.
	args := []any{bs(e.EventID), bs(e.RoomID), bs(e.Type), bsp(e.StateKey), bs(e.Sender), e.Depth, e.OriginServerTS,
		bss(e.PrevEvents), blob(e.JSON), e.Status.String(), bs(e.RejectReason), e.StateBefore, e.StateAfter, bs(e.RedactedBy)}
	if replace {
		// Once redacted, an event is never served whole again: a redacted
		// row keeps its JSON and redacted_by (decided on the row as it is
		// when updated, so a redaction committed meanwhile is kept too).
		err = tx.QueryRow(ctx, `
			UPDATE events SET stream_pos = nextval('events_stream_pos_seq'),
				room_id = $2, type = $3, state_key = $4, sender = $5, depth = $6, origin_server_ts = $7,
				prev_events = $8, status = $10, reject_reason = $11, state_before = $12, state_after = $13,
				json = CASE WHEN events.redacted_by = ''::bytea THEN $9 ELSE events.json END,
				redacted_by = CASE WHEN events.redacted_by = ''::bytea THEN $14 ELSE events.redacted_by END
			WHERE event_id = $1
			RETURNING stream_pos, redacted_by`,
			args...).Scan(&pos, &u.Event.RedactedBy)
	} else {
		// ON CONFLICT: a writer of another room (so not holding our lock)
		// may store the same event ID at the same time. Then start over:
		// the next attempt finds the event stored and skips it, as it would
		// have if the other writer had come first.
		err = tx.QueryRow(ctx, `
			INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
				prev_events, json, status, reject_reason, state_before, state_after, redacted_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (event_id) DO NOTHING
			RETURNING stream_pos`,
			args...).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, errRetry
		}
	}
	if err != nil {
		return 0, err
	}

	// The rest of the event's rows go in one round trip.
	b := &pgx.Batch{}
	if replace {
		b.Queue(`DELETE FROM event_edges WHERE event_id = $1`, bs(e.EventID))
		b.Queue(`DELETE FROM relations WHERE event_id = $1`, bs(e.EventID))
	}
	if r, ok := storage.IndexedRelation(u); ok {
		queueRelation(b, r)
	}
	if len(e.PrevEvents) > 0 {
		b.Queue(`
			INSERT INTO event_edges (event_id, prev_event_id)
			SELECT $1::bytea, p FROM unnest($2::bytea[]) AS p
			ON CONFLICT DO NOTHING`, bs(e.EventID), bss(dedupe(e.PrevEvents)))
	}
	if u.SetState && e.StateKey != nil && e.Status == storage.StatusAccepted {
		b.Queue(`
			INSERT INTO current_state (room_id, type, state_key, event_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id`,
			bs(e.RoomID), bs(e.Type), bs(*e.StateKey), bs(e.EventID))
	}
	if u.Extremity {
		// The event's prev_events stop being forward extremities, and it
		// becomes one unless a stored event lists it as a prev_event. The
		// room lock makes every such event of the room visible here.
		if len(e.PrevEvents) > 0 {
			b.Queue(`DELETE FROM forward_extremities WHERE room_id = $1 AND event_id = ANY($2::bytea[])`,
				bs(e.RoomID), bss(e.PrevEvents))
		}
		b.Queue(`
			INSERT INTO forward_extremities (room_id, event_id)
			SELECT $1::bytea, $2::bytea WHERE NOT EXISTS (SELECT 1 FROM event_edges WHERE prev_event_id = $2::bytea)
			ON CONFLICT DO NOTHING`, bs(e.RoomID), bs(e.EventID))
	}
	if dests := dedupe(u.Destinations); len(dests) > 0 {
		// The payload is the event as its row now stands: a replaced event
		// that was redacted is queued redacted.
		b.Queue(`
			INSERT INTO outbound_queue (destination, kind, payload, event_id)
			SELECT d, 'pdu', e.json, e.event_id FROM unnest($1::bytea[]) AS d, events e
			WHERE e.event_id = $2::bytea`,
			bss(dests), bs(e.EventID))
	}
	if b.Len() == 0 {
		return pos, nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	return pos, nil
}

// applyRoomState applies a write's StateDelta and CurrentSnapshot.
func applyRoomState(ctx context.Context, tx pgx.Tx, w storage.RoomWrite) error {
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
	// In order, in one round trip: a later entry for a key wins.
	b := &pgx.Batch{}
	for _, d := range w.StateDelta {
		if d.EventID == "" {
			b.Queue(`DELETE FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`,
				bs(roomID), bs(d.Type), bs(d.StateKey))
			continue
		}
		b.Queue(`
			INSERT INTO current_state (room_id, type, state_key, event_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id`,
			bs(roomID), bs(d.Type), bs(d.StateKey), bs(d.EventID))
	}
	if b.Len() > 0 {
		br := tx.SendBatch(ctx, b)
		for _, d := range w.StateDelta {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return fmt.Errorf("current state %s/%q: %w", d.Type, d.StateKey, err)
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("current state: %w", err)
		}
	}
	if w.CurrentSnapshot != 0 {
		tag, err := tx.Exec(ctx, `UPDATE rooms SET current_snapshot = $1 WHERE room_id = $2`, w.CurrentSnapshot, bs(roomID))
		if err != nil {
			return fmt.Errorf("current snapshot: %w", err)
		}
		if err := mustAffect(tag, "room "+roomID); err != nil {
			return err
		}
	}
	return nil
}
