package sqlite

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage/storetest"
)

// TestUpgradeToProfiles opens a file at the schema just before the
// "profiles" step, holding a room and an event: they are kept, and
// profiles work after the upgrade. The step is found by name, so steps
// appended after it do not change the test.
func TestUpgradeToProfiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := rawDB(t, path)
	ctx := t.Context()
	step := slices.IndexFunc(migrations, func(m migration) bool { return m.name == "profiles" })
	if step < 0 {
		t.Fatal(`no migration step is named "profiles"`)
	}
	if _, err := migrate(ctx, db, migrations[:step]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '[]', CAST('{"m":1}' AS BLOB), 'accepted', '', 0, 0);`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version %d file: %v", step, err)
	}
	defer s.Close()
	storetest.CheckUpgradedToProfiles(t, s)
	if v := userVersion(t, rawDB(t, path)); v != len(migrations) {
		t.Fatalf("user_version after the upgrade: %d, want %d", v, len(migrations))
	}
}
