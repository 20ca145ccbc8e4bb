package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/embedmatrix/homeserver/storage"
)

// schemaRelations adds what redactions and relations need: the redaction
// applied to each event, the index of accepted events' m.relates_to links,
// and the recorded redactions (applied or waiting for their target), seq
// being their recording order.
const schemaRelations = `
ALTER TABLE events ADD COLUMN redacted_by BYTEA NOT NULL DEFAULT ''::bytea;

CREATE TABLE relations (
	event_id         BYTEA PRIMARY KEY,
	room_id          BYTEA NOT NULL,
	target_id        BYTEA NOT NULL,
	rel_type         BYTEA NOT NULL,
	key              BYTEA NOT NULL,
	sender           BYTEA NOT NULL,
	type             BYTEA NOT NULL,
	origin_server_ts BIGINT NOT NULL
);

-- Relations: the edits, reactions and thread replies of an event.
CREATE INDEX relations_by_target ON relations (target_id, rel_type);

CREATE TABLE redactions (
	redaction_id BYTEA PRIMARY KEY,
	room_id      BYTEA NOT NULL,
	target_id    BYTEA NOT NULL,
	sender       BYTEA NOT NULL,
	by_power     BOOLEAN NOT NULL,
	applied      BOOLEAN NOT NULL,
	seq          BIGINT GENERATED ALWAYS AS IDENTITY
);

-- RedactionsFor: the redactions of an event, in recording order.
CREATE INDEX redactions_by_target ON redactions (target_id, seq);
`

// queueRelation adds to b the statement that indexes r, replacing a row of
// the same event. The row is written only while the event is not
// redacted, as the event row stands in the transaction.
func queueRelation(b *pgx.Batch, r storage.Relation) {
	b.Queue(`
		INSERT INTO relations (event_id, room_id, target_id, rel_type, key, sender, type, origin_server_ts)
		SELECT $1::bytea, $2::bytea, $3::bytea, $4::bytea, $5::bytea, $6::bytea, $7::bytea, $8::bigint
		WHERE EXISTS (SELECT 1 FROM events WHERE event_id = $1::bytea AND redacted_by = ''::bytea)
		ON CONFLICT (event_id) DO UPDATE SET
			room_id = excluded.room_id, target_id = excluded.target_id, rel_type = excluded.rel_type,
			key = excluded.key, sender = excluded.sender, type = excluded.type,
			origin_server_ts = excluded.origin_server_ts`,
		bs(r.EventID), bs(r.RoomID), bs(r.TargetID), bs(r.RelType), bs(r.Key), bs(r.Sender), bs(r.Type), r.OriginServerTS)
}

// writeRedactions records a write's redactions inside tx. A redaction
// recorded already keeps everything but applied, which only turns true.
func writeRedactions(ctx context.Context, tx pgx.Tx, rs []storage.Redaction) error {
	if len(rs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range rs {
		b.Queue(`
			INSERT INTO redactions (redaction_id, room_id, target_id, sender, by_power, applied)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (redaction_id) DO UPDATE SET applied = redactions.applied OR excluded.applied`,
			bs(r.RedactionID), bs(r.RoomID), bs(r.TargetID), bs(r.Sender), r.ByPower, r.Applied)
	}
	br := tx.SendBatch(ctx, b)
	for _, r := range rs {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("redaction %s: %w", r.RedactionID, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("redactions: %w", err)
	}
	return nil
}

// redact applies a write's Redact entries inside tx, after its events.
func redact(ctx context.Context, tx pgx.Tx, rs []storage.RedactedEvent) error {
	if len(rs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range rs {
		b.Queue(`UPDATE events SET json = $2, redacted_by = $3 WHERE event_id = $1`,
			bs(r.EventID), blob(r.JSON), bs(r.RedactedBy))
		b.Queue(`DELETE FROM relations WHERE event_id = $1`, bs(r.EventID))
	}
	br := tx.SendBatch(ctx, b)
	for _, r := range rs {
		tag, err := br.Exec()
		if err == nil {
			err = mustAffect(tag, "redact event "+r.EventID)
		}
		if err == nil {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("redact %s: %w", r.EventID, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	if err := queueRedacted(ctx, tx, rs); err != nil {
		return fmt.Errorf("redact: queued copies: %w", err)
	}
	return nil
}

// RedactionsFor returns the recorded redactions whose target is among
// targetIDs, applied or not, in the order they were recorded.
func (s *Store) RedactionsFor(ctx context.Context, targetIDs []string) ([]storage.Redaction, error) {
	if len(targetIDs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT redaction_id, room_id, target_id, sender, by_power, applied
		FROM redactions WHERE target_id = ANY($1::bytea[]) ORDER BY seq`, bss(dedupe(targetIDs)))
	if err != nil {
		return nil, fmt.Errorf("postgres: redactions: %w", err)
	}
	out, err := collect(rows, func(rows pgx.Rows) (storage.Redaction, error) {
		var r storage.Redaction
		err := rows.Scan(&r.RedactionID, &r.RoomID, &r.TargetID, &r.Sender, &r.ByPower, &r.Applied)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: redactions: %w", err)
	}
	return out, nil
}

// Relations returns the relations whose TargetID is among targetIDs (any
// room), of events that are accepted and not redacted, ordered by
// StreamPos; relType "" means every type.
func (s *Store) Relations(ctx context.Context, targetIDs []string, relType string) ([]storage.Relation, error) {
	if len(targetIDs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT r.event_id, r.room_id, r.target_id, r.rel_type, r.key, r.sender, r.type,
			r.origin_server_ts, e.stream_pos
		FROM relations r JOIN events e ON e.event_id = r.event_id
		WHERE r.target_id = ANY($1::bytea[]) AND ($2::bytea = ''::bytea OR r.rel_type = $2::bytea)
			AND e.status = 'accepted' AND e.redacted_by = ''::bytea
		ORDER BY e.stream_pos`, bss(dedupe(targetIDs)), bs(relType))
	if err != nil {
		return nil, fmt.Errorf("postgres: relations: %w", err)
	}
	out, err := collect(rows, func(rows pgx.Rows) (storage.Relation, error) {
		var r storage.Relation
		err := rows.Scan(&r.EventID, &r.RoomID, &r.TargetID, &r.RelType, &r.Key, &r.Sender, &r.Type,
			&r.OriginServerTS, &r.StreamPos)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: relations: %w", err)
	}
	return out, nil
}
