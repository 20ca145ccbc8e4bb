package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/storetest"
)

// Upgrade tests: a file written at the schema just before a step, holding
// rows, is brought up to date by Open; the rows are kept and the step's
// feature works on them. Steps are found by name, so steps appended later
// change no test.

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

// upgradeFrom writes a file at the schema just before the step named
// step, runs seed (SQL) on it, opens it with Open, runs check on the
// upgraded store, and checks the file ends at the newest version.
func upgradeFrom(t *testing.T, step, seed string, check func(*testing.T, storage.Store)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	db := rawDB(t, path)
	ctx := t.Context()
	before := stepIndex(t, step)
	if _, err := migrate(ctx, db, migrations[:before]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, seed); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version %d file: %v", before, err)
	}
	defer s.Close()
	check(t, s)
	if v := userVersion(t, rawDB(t, path)); v != len(migrations) {
		t.Fatalf("user_version after the upgrade: %d, want %d", v, len(migrations))
	}
}

// seedRoom is a room with one event, $m.
const seedRoom = `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '[]', CAST('{"m":1}' AS BLOB), 'accepted', '', 0, 0);`

// TestUpgradeToRelations opens a file at the schema before redactions and
// relations , holding a room and its events: the upgrade keeps
// them, whole, and they can then be related to and redacted.
func TestUpgradeToRelations(t *testing.T) {
	upgradeFrom(t, "redactions and relations", `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '[]', CAST('{"m":1}' AS BLOB), 'accepted', '', 0, 0),
			('$x', '!r:t', 'm.room.message', NULL, '@a:t', 2, 101, '["$m"]', CAST('{"x":1}' AS BLOB), 'accepted', '', 0, 0);
		INSERT INTO event_edges (event_id, prev_event_id) VALUES ('$x', '$m');
		INSERT INTO receipts (room_id, user_id, type, event_id, ts) VALUES ('!r:t', '@a:t', 'm.read', '$m', 7);`, storetest.CheckUpgradedToRelations)
}

// TestUpgradeToQueueEvents opens a file at the schema before queued PDUs
// knew their event , holding an open transaction and unsent
// items: they are still sent after the upgrade, and what is queued after
// it is redacted in the queue.
func TestUpgradeToQueueEvents(t *testing.T) {
	upgradeFrom(t, "queued PDUs by event", `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '[]', CAST('{"m":1}' AS BLOB), 'accepted', '', 0, 0);
		INSERT INTO forward_extremities (room_id, event_id) VALUES ('!r:t', '$m');
		INSERT INTO outbound_queue (destination, kind, payload, txn_id)
		VALUES ('busy.example', 'pdu', CAST('{"m":1}' AS BLOB), '1.old'),
			('old.example', 'pdu', CAST('{"m":1}' AS BLOB), NULL),
			('old.example', 'edu', CAST('{"e":1}' AS BLOB), NULL);
		INSERT INTO outbound_txns (destination, txn_id) VALUES ('busy.example', '1.old');`, storetest.CheckUpgradedToQueueEvents)
}

// TestUpgradeToProfiles: a room and an event are kept, and profiles work
// after the upgrade.
func TestUpgradeToProfiles(t *testing.T) {
	upgradeFrom(t, "profiles", seedRoom, storetest.CheckUpgradedToProfiles)
}

// TestUpgradeToAliases opens a file at the schema just before aliases and
// the room directory, holding a room and its event: the upgrade keeps
// them, and aliases and the directory work after it.
func TestUpgradeToAliases(t *testing.T) {
	upgradeFrom(t, "aliases and the room directory", seedRoom, storetest.CheckUpgradedToAliases)
}

// TestUpgradeToEventsByTime opens a file at the schema just before the
// "events by time" step, holding a room and its event: the upgrade keeps
// them, and EventsByTime finds old and new events.
func TestUpgradeToEventsByTime(t *testing.T) {
	upgradeFrom(t, "events by time", seedRoom, storetest.CheckUpgradedToEventsByTime)
}
