package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// eventCols are the events columns scanEvent reads, in its order, for a
// query that names the events table "e".
const eventCols = `e.stream_pos, e.event_id, e.room_id, e.type, e.state_key, e.sender, e.depth,
	e.origin_server_ts, e.prev_events, e.json, e.status, e.reject_reason, e.state_before, e.state_after, e.redacted_by`

// scanEvent reads one row of eventCols. pgx copies what it scans, so the
// returned slices belong to the caller.
func scanEvent(row pgx.Row) (storage.Event, error) {
	var (
		e      storage.Event
		status string
	)
	if err := row.Scan(&e.StreamPos, &e.EventID, &e.RoomID, &e.Type, &e.StateKey, &e.Sender, &e.Depth,
		&e.OriginServerTS, &e.PrevEvents, &e.JSON, &status, &e.RejectReason, &e.StateBefore, &e.StateAfter, &e.RedactedBy); err != nil {
		return storage.Event{}, err
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
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(rows pgx.Rows) (storage.Event, error) { return scanEvent(rows) })
}

// Event returns one event by ID whatever its status, or an error matching
// storage.ErrNotFound.
func (s *Store) Event(ctx context.Context, eventID string) (storage.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx,
		`SELECT `+eventCols+` FROM events e WHERE e.event_id = $1`, bs(eventID)))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Event{}, fmt.Errorf("postgres: event %s: %w", eventID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Event{}, fmt.Errorf("postgres: event %s: %w", eventID, err)
	}
	return e, nil
}

// Events returns the events among ids that are stored, in stream order.
// IDs that are not stored are left out.
func (s *Store) Events(ctx context.Context, ids []string) ([]storage.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e
		WHERE e.event_id = ANY($1::bytea[]) ORDER BY e.stream_pos`, bss(dedupe(ids)))
	if err != nil {
		return nil, fmt.Errorf("postgres: events: %w", err)
	}
	return evs, nil
}

// RoomEvents returns the accepted events of a room with StreamPos greater
// than after, in stream order, at most limit of them (none if limit is
// not positive). Within a room, stream order is commit order, so a reader
// that pages on with the last StreamPos it saw misses nothing.
func (s *Store) RoomEvents(ctx context.Context, roomID string, after int64, limit int) ([]storage.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e
		WHERE e.room_id = $1 AND e.status = 'accepted' AND e.stream_pos > $2
		ORDER BY e.stream_pos LIMIT $3`, bs(roomID), after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: room events of %s: %w", roomID, err)
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
		WHERE e.room_id = $1 AND e.status = 'accepted' AND e.origin_server_ts >= $2
		ORDER BY e.origin_server_ts, e.stream_pos LIMIT $3`
	if !forward {
		query = `SELECT ` + eventCols + ` FROM events e
		WHERE e.room_id = $1 AND e.status = 'accepted' AND e.origin_server_ts <= $2
		ORDER BY e.origin_server_ts DESC, e.stream_pos DESC LIMIT $3`
	}
	evs, err := s.queryEvents(ctx, query, bs(roomID), ts, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: events of %s by time: %w", roomID, err)
	}
	return evs, nil
}

// CurrentState returns the room's current state events, ordered by type
// and state key.
func (s *Store) CurrentState(ctx context.Context, roomID string) ([]storage.Event, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id
		WHERE c.room_id = $1 ORDER BY c.type, c.state_key`, bs(roomID))
	if err != nil {
		return nil, fmt.Errorf("postgres: current state of %s: %w", roomID, err)
	}
	return evs, nil
}

// StateEvent returns the current state event of a room for (type, state
// key), or an error matching storage.ErrNotFound.
func (s *Store) StateEvent(ctx context.Context, roomID, eventType, stateKey string) (storage.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+`
		FROM current_state c JOIN events e ON e.event_id = c.event_id
		WHERE c.room_id = $1 AND c.type = $2 AND c.state_key = $3`, bs(roomID), bs(eventType), bs(stateKey)))
	what := fmt.Sprintf("state event (%s, %q) of %s", eventType, stateKey, roomID)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Event{}, fmt.Errorf("postgres: %s: %w", what, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Event{}, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return e, nil
}

// ForwardExtremities returns the IDs of the room's forward extremities,
// sorted (byte order).
func (s *Store) ForwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT event_id FROM forward_extremities WHERE room_id = $1 ORDER BY event_id`, bs(roomID))
	if err != nil {
		return nil, fmt.Errorf("postgres: forward extremities of %s: %w", roomID, err)
	}
	ids, err := collect(rows, func(rows pgx.Rows) (string, error) {
		var id string
		err := rows.Scan(&id)
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: forward extremities of %s: %w", roomID, err)
	}
	return ids, nil
}

// ChildEvents returns the stored events that list eventID among their
// prev_events, in stream order.
func (s *Store) ChildEvents(ctx context.Context, eventID string) ([]storage.Event, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM event_edges d JOIN events e ON e.event_id = d.event_id
		WHERE d.prev_event_id = $1 ORDER BY e.stream_pos`, bs(eventID))
	if err != nil {
		return nil, fmt.Errorf("postgres: child events of %s: %w", eventID, err)
	}
	return evs, nil
}
