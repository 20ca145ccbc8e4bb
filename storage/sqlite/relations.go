package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaRelations adds what redactions and relations need: the redaction
// applied to each event, the index of accepted events' m.relates_to links,
// and the recorded redactions (applied or waiting for their target). The
// redactions' rowid is their recording order (rows are never deleted, so
// no rowid is reused).
const schemaRelations = `
ALTER TABLE events ADD COLUMN redacted_by TEXT NOT NULL DEFAULT '';

CREATE TABLE relations (
	event_id         TEXT PRIMARY KEY,
	room_id          TEXT NOT NULL,
	target_id        TEXT NOT NULL,
	rel_type         TEXT NOT NULL,
	key              TEXT NOT NULL,
	sender           TEXT NOT NULL,
	type             TEXT NOT NULL,
	origin_server_ts INTEGER NOT NULL
) STRICT;

-- Relations: the edits, reactions and thread replies of an event.
CREATE INDEX relations_by_target ON relations (target_id, rel_type);

CREATE TABLE redactions (
	redaction_id TEXT PRIMARY KEY,
	room_id      TEXT NOT NULL,
	target_id    TEXT NOT NULL,
	sender       TEXT NOT NULL,
	by_power     INTEGER NOT NULL CHECK (by_power IN (0, 1)),
	applied      INTEGER NOT NULL CHECK (applied IN (0, 1))
) STRICT;

-- RedactionsFor: the redactions of an event.
CREATE INDEX redactions_by_target ON redactions (target_id);
`

// writeRelation indexes r inside tx, replacing a row of the same event.
func writeRelation(ctx context.Context, tx *sql.Tx, r storage.Relation) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO relations (event_id, room_id, target_id, rel_type, key, sender, type, origin_server_ts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET
			room_id = excluded.room_id, target_id = excluded.target_id, rel_type = excluded.rel_type,
			key = excluded.key, sender = excluded.sender, type = excluded.type,
			origin_server_ts = excluded.origin_server_ts`,
		r.EventID, r.RoomID, r.TargetID, r.RelType, r.Key, r.Sender, r.Type, r.OriginServerTS)
	if err != nil {
		return fmt.Errorf("relation: %w", err)
	}
	return nil
}

// writeRedactions records a write's redactions inside tx. A redaction
// recorded already keeps everything but Applied, which only turns true.
func writeRedactions(ctx context.Context, tx *sql.Tx, rs []storage.Redaction) error {
	for _, r := range rs {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO redactions (redaction_id, room_id, target_id, sender, by_power, applied)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (redaction_id) DO UPDATE SET applied = MAX(applied, excluded.applied)`,
			r.RedactionID, r.RoomID, r.TargetID, r.Sender, r.ByPower, r.Applied); err != nil {
			return fmt.Errorf("redaction %s: %w", r.RedactionID, err)
		}
	}
	return nil
}

// redact applies a write's Redact entries inside tx, after its events.
func redact(ctx context.Context, tx *sql.Tx, rs []storage.RedactedEvent) error {
	for _, r := range rs {
		res, err := tx.ExecContext(ctx, `UPDATE events SET json = ?, redacted_by = ? WHERE event_id = ?`,
			blob(r.JSON), r.RedactedBy, r.EventID)
		if err != nil {
			return fmt.Errorf("redact %s: %w", r.EventID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("redact %s: %w", r.EventID, err)
		} else if n == 0 {
			return notFound("redact event " + r.EventID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM relations WHERE event_id = ?`, r.EventID); err != nil {
			return fmt.Errorf("redact %s: relation: %w", r.EventID, err)
		}
		if err := queueRedacted(ctx, tx, r); err != nil {
			return fmt.Errorf("redact %s: queued copies: %w", r.EventID, err)
		}
	}
	return nil
}

// RedactionsFor returns the recorded redactions whose target is among
// targetIDs, applied or not, in the order they were recorded.
func (s *Store) RedactionsFor(ctx context.Context, targetIDs []string) ([]storage.Redaction, error) {
	type row struct {
		seq int64
		r   storage.Redaction
	}
	var rows []row
	err := inChunks(targetIDs, func(args []any) error {
		q, err := s.r.QueryContext(ctx, `SELECT rowid, redaction_id, room_id, target_id, sender, by_power, applied
			FROM redactions WHERE target_id IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		defer q.Close()
		for q.Next() {
			var x row
			if err := q.Scan(&x.seq, &x.r.RedactionID, &x.r.RoomID, &x.r.TargetID, &x.r.Sender,
				&x.r.ByPower, &x.r.Applied); err != nil {
				return err
			}
			rows = append(rows, x)
		}
		return q.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: redactions: %w", err)
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]storage.Redaction, len(rows))
	for i, x := range rows {
		out[i] = x.r
	}
	return out, nil
}

// Relations returns the relations whose TargetID is among targetIDs (any
// room), of events that are accepted and not redacted, ordered by
// StreamPos; relType "" means every type.
func (s *Store) Relations(ctx context.Context, targetIDs []string, relType string) ([]storage.Relation, error) {
	var out []storage.Relation
	err := inChunks(targetIDs, func(args []any) error {
		q := `SELECT r.event_id, r.room_id, r.target_id, r.rel_type, r.key, r.sender, r.type,
				r.origin_server_ts, e.stream_pos
			FROM relations r JOIN events e ON e.event_id = r.event_id
			WHERE r.target_id IN (` + placeholders(len(args)) + `)
				AND e.status = 'accepted' AND e.redacted_by = ''`
		if relType != "" {
			q += ` AND r.rel_type = ?`
			args = append(args, relType)
		}
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r storage.Relation
			if err := rows.Scan(&r.EventID, &r.RoomID, &r.TargetID, &r.RelType, &r.Key, &r.Sender, &r.Type,
				&r.OriginServerTS, &r.StreamPos); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: relations: %w", err)
	}
	slices.SortFunc(out, func(a, b storage.Relation) int { return cmp.Compare(a.StreamPos, b.StreamPos) })
	return out, nil
}

// inChunks calls fn with the distinct ids as query arguments, at most
// maxParams at a time.
func inChunks(ids []string, fn func(args []any) error) error {
	ids = dedupe(ids)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxParams)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk), len(chunk)+1)
		for i, id := range chunk {
			args[i] = id
		}
		if err := fn(args); err != nil {
			return err
		}
	}
	return nil
}
