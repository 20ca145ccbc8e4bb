package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
)

// eventCols are the events columns scanEvent reads, in its order, for a
// query that names the events table "e".
const eventCols = `e.stream_pos, e.event_id, e.room_id, e.type, e.state_key, e.sender, e.depth,
	e.origin_server_ts, e.prev_events, e.json, e.status, e.reject_reason, e.state_before, e.state_after, e.redacted_by`

// maxParams caps the IDs bound in one IN (...) list.
const maxParams = 500

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanEvent reads one row of eventCols.
func scanEvent(row scanner) (storage.Event, error) {
	var (
		e        storage.Event
		stateKey sql.NullString
		prev     string
		status   string
	)
	if err := row.Scan(&e.StreamPos, &e.EventID, &e.RoomID, &e.Type, &stateKey, &e.Sender, &e.Depth,
		&e.OriginServerTS, &prev, &e.JSON, &status, &e.RejectReason, &e.StateBefore, &e.StateAfter, &e.RedactedBy); err != nil {
		return storage.Event{}, err
	}
	if stateKey.Valid {
		e.StateKey = &stateKey.String
	}
	if err := json.Unmarshal([]byte(prev), &e.PrevEvents); err != nil {
		return storage.Event{}, fmt.Errorf("event %s: prev_events: %w", e.EventID, err)
	}
	if len(e.PrevEvents) == 0 {
		e.PrevEvents = nil
	}
	st, err := storage.ParseStatus(status)
	if err != nil {
		return storage.Event{}, fmt.Errorf("event %s: %w", e.EventID, err)
	}
	e.Status = st
	return e, nil
}

// queryEvents runs a query selecting eventCols and returns its events.
func (s *Store) queryEvents(ctx context.Context, query string, args ...any) ([]storage.Event, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []storage.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// Event returns one event by ID whatever its status, or an error matching
// storage.ErrNotFound.
func (s *Store) Event(ctx context.Context, eventID string) (storage.Event, error) {
	e, err := scanEvent(s.r.QueryRowContext(ctx,
		`SELECT `+eventCols+` FROM events e WHERE e.event_id = ?`, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Event{}, fmt.Errorf("sqlite: event %s: %w", eventID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Event{}, fmt.Errorf("sqlite: event %s: %w", eventID, err)
	}
	return e, nil
}

// Events returns the events among ids that are stored, in stream order.
// IDs that are not stored are left out.
func (s *Store) Events(ctx context.Context, ids []string) ([]storage.Event, error) {
	var evs []storage.Event
	ids = dedupe(ids)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxParams)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		got, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e
			WHERE e.event_id IN (`+placeholders(len(chunk))+`) ORDER BY e.stream_pos`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		evs = append(evs, got...)
	}
	return evs, nil
}

// RoomEvents returns the accepted events of a room with StreamPos greater
// than after, in stream order, at most limit of them (none if limit is
// not positive).
func (s *Store) RoomEvents(ctx context.Context, roomID string, after int64, limit int) ([]storage.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e
		WHERE e.room_id = ? AND e.status = 'accepted' AND e.stream_pos > ?
		ORDER BY e.stream_pos LIMIT ?`, roomID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: room events of %s: %w", roomID, err)
	}
	return evs, nil
}

// schemaEventsByTime indexes a room's accepted events by origin_server_ts
// for EventsByTime (timestamp_to_event); stream_pos breaks ties.
const schemaEventsByTime = `
CREATE INDEX events_room_time ON events (room_id, origin_server_ts, stream_pos) WHERE status = 'accepted';
`

// EventsByTime returns the accepted events of a room with
// origin_server_ts >= ts in ascending (origin_server_ts, stream_pos)
// order when forward, else those with origin_server_ts <= ts in
// descending order; at most limit of them (none if limit is not
// positive). It reads the events_room_time index.
func (s *Store) EventsByTime(ctx context.Context, roomID string, ts int64, forward bool, limit int) ([]storage.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	query := `SELECT ` + eventCols + ` FROM events e
		WHERE e.room_id = ? AND e.status = 'accepted' AND e.origin_server_ts >= ?
		ORDER BY e.origin_server_ts, e.stream_pos LIMIT ?`
	if !forward {
		query = `SELECT ` + eventCols + ` FROM events e
		WHERE e.room_id = ? AND e.status = 'accepted' AND e.origin_server_ts <= ?
		ORDER BY e.origin_server_ts DESC, e.stream_pos DESC LIMIT ?`
	}
	evs, err := s.queryEvents(ctx, query, roomID, ts, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events of %s by time: %w", roomID, err)
	}
	return evs, nil
}

// CurrentState returns the room's current state events, ordered by type
// and state key.
func (s *Store) CurrentState(ctx context.Context, roomID string) ([]storage.Event, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id
		WHERE c.room_id = ? ORDER BY c.type, c.state_key`, roomID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: current state of %s: %w", roomID, err)
	}
	return evs, nil
}

// StateEvent returns the current state event of a room for (type, state
// key), or an error matching storage.ErrNotFound.
func (s *Store) StateEvent(ctx context.Context, roomID, eventType, stateKey string) (storage.Event, error) {
	e, err := scanEvent(s.r.QueryRowContext(ctx, `SELECT `+eventCols+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id
		WHERE c.room_id = ? AND c.type = ? AND c.state_key = ?`, roomID, eventType, stateKey))
	what := fmt.Sprintf("state event (%s, %q) of %s", eventType, stateKey, roomID)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Event{}, fmt.Errorf("sqlite: %s: %w", what, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Event{}, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return e, nil
}

// ForwardExtremities returns the IDs of the room's forward extremities,
// sorted.
func (s *Store) ForwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT event_id FROM forward_extremities WHERE room_id = ? ORDER BY event_id`, roomID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: forward extremities of %s: %w", roomID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: forward extremities of %s: %w", roomID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: forward extremities of %s: %w", roomID, err)
	}
	return ids, nil
}

// ChildEvents returns the stored events that list eventID among their
// prev_events, in stream order.
func (s *Store) ChildEvents(ctx context.Context, eventID string) ([]storage.Event, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM event_edges d JOIN events e ON e.event_id = d.event_id
		WHERE d.prev_event_id = ? ORDER BY e.stream_pos`, eventID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: child events of %s: %w", eventID, err)
	}
	return evs, nil
}
