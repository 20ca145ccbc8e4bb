package postgres

import (
	"bytes"
	"testing"

	"github.com/embedmatrix/homeserver/media"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/storetest"
)

// Upgrade tests: a database written at the schema just before a step,
// holding rows, is brought up to date by Open; the rows are kept and the
// step's feature works on them. Steps are found by name, so steps
// appended later change no test.

// stepIndex returns the index in migrations of the step named name, so an
// upgrade test starts from the schema just before it whatever was
// appended after it.
func stepIndex(t *testing.T, name string) int {
	t.Helper()
	for i, m := range migrations {
		if m.name == name {
			return i
		}
	}
	t.Fatalf("no migration step named %q", name)
	return 0
}

// upgradeFrom creates a database at the schema just before the step named
// step, runs seed (SQL) on it, opens it, runs check on the upgraded store,
// and checks the database ends at the newest version.
func upgradeFrom(t *testing.T, step, seed string, check func(*testing.T, *Store)) {
	t.Helper()
	dsn := freshDB(t)
	pool := rawPool(t, dsn)
	ctx := t.Context()
	before := stepIndex(t, step)
	if _, err := migrate(ctx, pool, migrations[:before]); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, seed); err != nil {
		t.Fatal(err)
	}
	s := openDSN(t, dsn)
	check(t, s)
	if v := schemaVersion(t, pool); v != len(migrations) {
		t.Fatalf("schema version after the upgrade: %d, want %d", v, len(migrations))
	}
}

// conformance adapts a storetest upgrade check to upgradeFrom.
func conformance(check func(*testing.T, storage.Store)) func(*testing.T, *Store) {
	return func(t *testing.T, s *Store) { check(t, s) }
}

// seedRoom is a room with one event, $m.
const seedRoom = `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '{}', '{"m":1}', 'accepted', '', 0, 0);`

// TestUpgradeToRelations opens a database at the schema before redactions
// and relations, holding a room and its events: the upgrade
// keeps them, whole, and they can then be related to and redacted.
func TestUpgradeToRelations(t *testing.T) {
	t.Parallel()
	upgradeFrom(t, "redactions and relations", `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '{}', '{"m":1}', 'accepted', '', 0, 0),
			('$x', '!r:t', 'm.room.message', NULL, '@a:t', 2, 101, ARRAY['$m'::bytea], '{"x":1}', 'accepted', '', 0, 0);
		INSERT INTO event_edges (event_id, prev_event_id) VALUES ('$x', '$m');
		INSERT INTO receipts (room_id, user_id, type, event_id, ts) VALUES ('!r:t', '@a:t', 'm.read', '$m', 7);`, conformance(storetest.CheckUpgradedToRelations))
}

// TestUpgradeToQueueEvents opens a database at the schema before queued
// PDUs knew their event, holding an open transaction and
// unsent items: they are still sent after the upgrade, and what is queued
// after it is redacted in the queue.
func TestUpgradeToQueueEvents(t *testing.T) {
	t.Parallel()
	upgradeFrom(t, "queued PDUs by event", `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '{}', '{"m":1}', 'accepted', '', 0, 0);
		INSERT INTO forward_extremities (room_id, event_id) VALUES ('!r:t', '$m');
		INSERT INTO outbound_queue (destination, kind, payload, txn_id)
		VALUES ('busy.example', 'pdu', '{"m":1}', '1.old'),
			('old.example', 'pdu', '{"m":1}', NULL),
			('old.example', 'edu', '{"e":1}', NULL);
		INSERT INTO outbound_txns (destination, txn_id) VALUES ('busy.example', '1.old');`, conformance(storetest.CheckUpgradedToQueueEvents))
}

// TestUpgradeToProfiles: a room and an event are kept, and profiles work
// after the upgrade.
func TestUpgradeToProfiles(t *testing.T) {
	t.Parallel()
	upgradeFrom(t, "profiles", seedRoom, conformance(storetest.CheckUpgradedToProfiles))
}

// TestUpgradeToAliases opens a database at the schema just before aliases
// and the room directory, holding a room and its event: the upgrade keeps
// them, and aliases and the directory work after it.
func TestUpgradeToAliases(t *testing.T) {
	t.Parallel()
	upgradeFrom(t, "aliases and the room directory", seedRoom, conformance(storetest.CheckUpgradedToAliases))
}

// TestUpgradeToEventsByTime opens a database at the schema just before the
// "events by time" step, holding a room and its event: the upgrade keeps
// them, and EventsByTime finds old and new events.
func TestUpgradeToEventsByTime(t *testing.T) {
	t.Parallel()
	upgradeFrom(t, "events by time", seedRoom, conformance(storetest.CheckUpgradedToEventsByTime))
}

// TestUpgradeToMedia opens a database at the schema just before media,
// holding a room: the upgrade keeps it, and media works after it.
func TestUpgradeToMedia(t *testing.T) {
	t.Parallel()
	upgradeFrom(t, "media", `INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5)`, func(t *testing.T, s *Store) {
		if _, err := s.Room(t.Context(), "!r:t"); err != nil {
			t.Fatalf("room after the upgrade: %v", err)
		}
		if _, err := s.Media().Put(t.Context(), media.Meta{Server: "t", MediaID: "m"}, bytes.NewReader([]byte("x")), 10); err != nil {
			t.Fatalf("Put after the upgrade: %v", err)
		}
	})
}
