package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrSchemaTooNew is returned (wrapped) by Open for a database file that a
// newer version of this package has migrated past what this one knows.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version supports")

// migration is one step of the schema's history. Step i (from 0) takes the
// file from schema version i to i+1; the version is kept in PRAGMA
// user_version. Steps are only ever appended: a released step never
// changes.
type migration struct {
	name string
	sql  string
}

// migrations is the schema's history, oldest first.
var migrations = []migration{
	{name: "initial schema", sql: schemaV1},
	{name: "receipts", sql: schemaReceipts},
	{name: "redactions and relations", sql: schemaRelations},
	{name: "queued PDUs by event", sql: schemaQueueEvents},
	{name: "profiles", sql: schemaProfiles},
	{name: "aliases and the room directory", sql: schemaAliases},
	{name: "events by time", sql: schemaEventsByTime},
}

// migrate brings the database up to len(steps), applying the missing steps
// and the new version in one write transaction, and returns how many steps
// it applied. A database already at the last version is left untouched; one
// past it is refused with ErrSchemaTooNew.
func migrate(ctx context.Context, db *sql.DB, steps []migration) (applied int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || applied == 0 {
			_ = tx.Rollback()
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	switch {
	case version > len(steps):
		return 0, fmt.Errorf("%w: the file is at schema version %d, this build knows versions up to %d",
			ErrSchemaTooNew, version, len(steps))
	case version < 0:
		return 0, fmt.Errorf("migrate: invalid schema version %d", version)
	case version == len(steps):
		return 0, nil
	}
	for i := version; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i].sql); err != nil {
			return 0, fmt.Errorf("migrate to version %d (%s): %w", i+1, steps[i].name, err)
		}
	}
	// PRAGMA takes no bound parameters; len(steps) is an int we own.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
		return 0, fmt.Errorf("migrate: set schema version %d: %w", len(steps), err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("migrate: commit: %w", err)
	}
	return len(steps) - version, nil
}

// schemaV1 is the initial schema.
const schemaV1 = `
CREATE TABLE signing_keys (
	key_id     TEXT PRIMARY KEY,
	seed       BLOB NOT NULL,
	created_ts INTEGER NOT NULL,
	expired_ts INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE remote_keys (
	server_name    TEXT NOT NULL,
	key_id         TEXT NOT NULL,
	public_key     BLOB NOT NULL,
	valid_until_ts INTEGER NOT NULL,
	expired_ts     INTEGER NOT NULL,
	response       BLOB NOT NULL,
	PRIMARY KEY (server_name, key_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE rooms (
	room_id          TEXT PRIMARY KEY,
	version          TEXT NOT NULL,
	created_ts       INTEGER NOT NULL,
	current_snapshot INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX rooms_by_age ON rooms (created_ts);

-- stream_pos is the rowid; AUTOINCREMENT keeps it from ever being reused.
CREATE TABLE events (
	stream_pos       INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id         TEXT NOT NULL UNIQUE,
	room_id          TEXT NOT NULL REFERENCES rooms (room_id),
	type             TEXT NOT NULL,
	state_key        TEXT,
	sender           TEXT NOT NULL,
	depth            INTEGER NOT NULL,
	origin_server_ts INTEGER NOT NULL,
	prev_events      TEXT NOT NULL, -- JSON array of event IDs, in order
	json             BLOB NOT NULL,
	status           TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'soft_failed', 'parked')),
	reject_reason    TEXT NOT NULL,
	state_before     INTEGER NOT NULL DEFAULT 0,
	state_after      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- RoomEvents: a room's accepted events in stream order.
CREATE INDEX events_room_stream ON events (room_id, stream_pos) WHERE status = 'accepted';

-- One row per (event, prev_event) so an event's stored children can be
-- found when it arrives after them.
CREATE TABLE event_edges (
	event_id      TEXT NOT NULL REFERENCES events (event_id),
	prev_event_id TEXT NOT NULL,
	PRIMARY KEY (event_id, prev_event_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX event_edges_by_prev ON event_edges (prev_event_id);

CREATE TABLE current_state (
	room_id   TEXT NOT NULL REFERENCES rooms (room_id),
	type      TEXT NOT NULL,
	state_key TEXT NOT NULL,
	event_id  TEXT NOT NULL REFERENCES events (event_id),
	PRIMARY KEY (room_id, type, state_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE forward_extremities (
	room_id  TEXT NOT NULL REFERENCES rooms (room_id),
	event_id TEXT NOT NULL REFERENCES events (event_id),
	PRIMARY KEY (room_id, event_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE invites (
	room_id      TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	inviter      TEXT NOT NULL,
	direction    TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	room_version TEXT NOT NULL,
	event_json   BLOB NOT NULL,
	room_state   BLOB NOT NULL,
	state        TEXT NOT NULL,
	created_ts   INTEGER NOT NULL,
	updated_ts   INTEGER NOT NULL,
	PRIMARY KEY (room_id, user_id)
) STRICT;

CREATE INDEX invites_by_user ON invites (user_id, created_ts);

-- Queued PDUs and EDUs. txn_id is NULL until the item is put in an
-- outbound transaction. item_id never repeats (AUTOINCREMENT), so it is
-- queue order.
CREATE TABLE outbound_queue (
	item_id     INTEGER PRIMARY KEY AUTOINCREMENT,
	destination TEXT NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('pdu', 'edu')),
	payload     BLOB NOT NULL,
	txn_id      TEXT
) STRICT;

CREATE INDEX outbound_queue_by_dest ON outbound_queue (destination, txn_id, kind, item_id);

-- The open (sent but not acknowledged) transaction of each destination.
CREATE TABLE outbound_txns (
	destination TEXT PRIMARY KEY,
	txn_id      TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Room states, shared by every event with that state. A snapshot is
-- either full (parent_id NULL) or a delta over its parent; chain_len counts
-- the deltas down to the nearest full snapshot and stays bounded.
CREATE TABLE state_snapshots (
	snapshot_id INTEGER PRIMARY KEY AUTOINCREMENT,
	room_id     TEXT NOT NULL,
	parent_id   INTEGER REFERENCES state_snapshots (snapshot_id),
	chain_len   INTEGER NOT NULL
) STRICT;

-- event_id '' in a delta removes the key.
CREATE TABLE state_snapshot_entries (
	snapshot_id INTEGER NOT NULL REFERENCES state_snapshots (snapshot_id),
	type        TEXT NOT NULL,
	state_key   TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	PRIMARY KEY (snapshot_id, type, state_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE inbound_txns (
	origin      TEXT NOT NULL,
	txn_id      TEXT NOT NULL,
	response    BLOB NOT NULL,
	received_ts INTEGER NOT NULL,
	PRIMARY KEY (origin, txn_id)
) STRICT, WITHOUT ROWID;
`
