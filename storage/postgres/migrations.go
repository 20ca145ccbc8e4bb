package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrSchemaTooNew is returned (wrapped) by Open for a database that a newer
// version of this package has migrated past what this one knows.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this version supports")

// migration is one step of the schema's history. Step i (from 0) takes the
// database from schema version i to i+1. Steps are only ever appended: a
// released step never changes.
type migration struct {
	name string
	sql  string
}

// migrations is the schema's history, oldest first.
var migrations = []migration{
	{name: "initial schema", sql: schemaV1},
	{name: "redactions and relations", sql: schemaRelations},
	{name: "queued PDUs by event", sql: schemaQueueEvents},
	{name: "profiles", sql: schemaProfiles},
	{name: "aliases and the room directory", sql: schemaAliases},
	{name: "events by time", sql: schemaEventsByTime},
	{name: "media", sql: schemaMedia},
}

// migrationsTable records the applied steps, one row each; the schema
// version is the highest. It is created by migrate itself, not by a step,
// so a database is at version 0 until the first step is applied.
const migrationsTable = `
CREATE TABLE schema_migrations (
	version    INTEGER PRIMARY KEY CHECK (version > 0),
	name       TEXT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// migrate brings the database up to len(steps), applying the missing steps
// and recording them in one transaction, and returns how many steps it
// applied. The transaction first takes an advisory lock, so concurrent
// callers (other processes opening the same database) run one after the
// other and all but the first find nothing to do. A database already at
// the last version is left untouched; one past it is refused with
// ErrSchemaTooNew.
func migrate(ctx context.Context, pool *pgxpool.Pool, steps []migration) (applied int, err error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || applied == 0 {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockMigrate); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	// Under the lock, and in READ COMMITTED, every statement from here on
	// sees what an Open that held the lock before us committed.
	// Create the table only when it is missing, so that a role allowed to
	// read and write the tables but not to create any can open a database
	// that is already up to date.
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("migrate: look for schema_migrations: %w", err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, migrationsTable); err != nil {
			return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
	}
	var version int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	switch {
	case version > len(steps):
		return 0, fmt.Errorf("%w: the database is at schema version %d, this build knows versions up to %d",
			ErrSchemaTooNew, version, len(steps))
	case version == len(steps):
		return 0, nil
	}
	for i := version; i < len(steps); i++ {
		if _, err := tx.Exec(ctx, steps[i].sql); err != nil {
			return 0, fmt.Errorf("migrate to version %d (%s): %w", i+1, steps[i].name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
			i+1, steps[i].name); err != nil {
			return 0, fmt.Errorf("migrate: record version %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("migrate: commit: %w", err)
	}
	return len(steps) - version, nil
}

// schemaV1 is the initial schema. Every string the store is given is kept
// as BYTEA (see bytes.go): any bytes, compared and ordered byte by byte, as
// storage/sqlite keeps them. Only the store's own enums (status, kind) are
// TEXT. The seq columns keep insertion order for ties, as SQLite's rowid
// does.
const schemaV1 = `
CREATE TABLE signing_keys (
	key_id     BYTEA PRIMARY KEY,
	seed       BYTEA NOT NULL,
	created_ts BIGINT NOT NULL,
	expired_ts BIGINT NOT NULL DEFAULT 0,
	seq        BIGINT GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE remote_keys (
	server_name    BYTEA NOT NULL,
	key_id         BYTEA NOT NULL,
	public_key     BYTEA NOT NULL,
	valid_until_ts BIGINT NOT NULL,
	expired_ts     BIGINT NOT NULL,
	response       BYTEA NOT NULL,
	PRIMARY KEY (server_name, key_id)
);

CREATE TABLE rooms (
	room_id          BYTEA PRIMARY KEY,
	version          BYTEA NOT NULL,
	created_ts       BIGINT NOT NULL,
	current_snapshot BIGINT NOT NULL DEFAULT 0,
	seq              BIGINT GENERATED ALWAYS AS IDENTITY
);

CREATE INDEX rooms_by_age ON rooms (created_ts, seq);

-- Stream positions. An event gets one when it is first stored, and a new
-- one when a parked event or an outlier is replaced.
CREATE SEQUENCE events_stream_pos_seq AS BIGINT;

CREATE TABLE events (
	event_id         BYTEA PRIMARY KEY,
	stream_pos       BIGINT NOT NULL UNIQUE DEFAULT nextval('events_stream_pos_seq'),
	room_id          BYTEA NOT NULL REFERENCES rooms (room_id),
	type             BYTEA NOT NULL,
	state_key        BYTEA,
	sender           BYTEA NOT NULL,
	depth            BIGINT NOT NULL,
	origin_server_ts BIGINT NOT NULL,
	prev_events      BYTEA[] NOT NULL, -- in order
	json             BYTEA NOT NULL,
	status           TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'soft_failed', 'parked')),
	reject_reason    BYTEA NOT NULL,
	state_before     BIGINT NOT NULL DEFAULT 0,
	state_after      BIGINT NOT NULL DEFAULT 0
);

ALTER SEQUENCE events_stream_pos_seq OWNED BY events.stream_pos;

-- RoomEvents: a room's accepted events in stream order.
CREATE INDEX events_room_stream ON events (room_id, stream_pos) WHERE status = 'accepted';

-- One row per (event, prev_event) so an event's stored children can be
-- found when it arrives after them.
CREATE TABLE event_edges (
	event_id      BYTEA NOT NULL REFERENCES events (event_id),
	prev_event_id BYTEA NOT NULL,
	PRIMARY KEY (event_id, prev_event_id)
);

CREATE INDEX event_edges_by_prev ON event_edges (prev_event_id);

CREATE TABLE current_state (
	room_id   BYTEA NOT NULL REFERENCES rooms (room_id),
	type      BYTEA NOT NULL,
	state_key BYTEA NOT NULL,
	event_id  BYTEA NOT NULL REFERENCES events (event_id),
	PRIMARY KEY (room_id, type, state_key)
);

CREATE TABLE forward_extremities (
	room_id  BYTEA NOT NULL REFERENCES rooms (room_id),
	event_id BYTEA NOT NULL REFERENCES events (event_id),
	PRIMARY KEY (room_id, event_id)
);

CREATE TABLE invites (
	room_id      BYTEA NOT NULL,
	user_id      BYTEA NOT NULL,
	inviter      BYTEA NOT NULL,
	direction    BYTEA NOT NULL,
	event_id     BYTEA NOT NULL,
	room_version BYTEA NOT NULL,
	event_json   BYTEA NOT NULL,
	room_state   BYTEA NOT NULL,
	state        BYTEA NOT NULL,
	created_ts   BIGINT NOT NULL,
	updated_ts   BIGINT NOT NULL,
	seq          BIGINT GENERATED ALWAYS AS IDENTITY,
	PRIMARY KEY (room_id, user_id)
);

CREATE INDEX invites_by_user ON invites (user_id, created_ts, seq);
CREATE INDEX invites_by_room ON invites (room_id, created_ts, seq);

-- Queued PDUs and EDUs. txn_id is NULL until the item is put in an
-- outbound transaction. item_id never repeats, so it is queue order.
CREATE TABLE outbound_queue (
	item_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	destination BYTEA NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('pdu', 'edu')),
	payload     BYTEA NOT NULL,
	txn_id      BYTEA
);

CREATE INDEX outbound_queue_unsent ON outbound_queue (destination, kind, item_id) WHERE txn_id IS NULL;
CREATE INDEX outbound_queue_by_txn ON outbound_queue (destination, txn_id, item_id);

-- The open (sent but not acknowledged) transaction of each destination.
CREATE TABLE outbound_txns (
	destination BYTEA PRIMARY KEY,
	txn_id      BYTEA NOT NULL
);

-- Room states, shared by every event with that state. A snapshot is
-- either full (parent_id NULL) or a delta over its parent; chain_len counts
-- the deltas down to the nearest full snapshot and stays bounded.
CREATE TABLE state_snapshots (
	snapshot_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	room_id     BYTEA NOT NULL,
	parent_id   BIGINT REFERENCES state_snapshots (snapshot_id),
	chain_len   INTEGER NOT NULL
);

-- An empty event_id in a delta removes the key.
CREATE TABLE state_snapshot_entries (
	snapshot_id BIGINT NOT NULL REFERENCES state_snapshots (snapshot_id),
	type        BYTEA NOT NULL,
	state_key   BYTEA NOT NULL,
	event_id    BYTEA NOT NULL,
	PRIMARY KEY (snapshot_id, type, state_key)
);

CREATE TABLE inbound_txns (
	origin      BYTEA NOT NULL,
	txn_id      BYTEA NOT NULL,
	response    BYTEA NOT NULL,
	received_ts BIGINT NOT NULL,
	PRIMARY KEY (origin, txn_id)
);

-- One row per (room, user, receipt type), the newest receipt only.
CREATE TABLE receipts (
	room_id  BYTEA NOT NULL,
	user_id  BYTEA NOT NULL,
	type     BYTEA NOT NULL,
	event_id BYTEA NOT NULL,
	ts       BIGINT NOT NULL,
	PRIMARY KEY (room_id, user_id, type)
);

-- Receipts: who has read up to one event.
CREATE INDEX receipts_by_event ON receipts (room_id, event_id);
`
