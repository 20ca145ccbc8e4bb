package postgres

import (
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage/storetest"
)

// TestUpgradeToProfiles opens a database at the schema just before the
// "profiles" step, holding a room and an event: they are kept, and
// profiles work after the upgrade. The step is found by name, so steps
// appended after it do not change the test.
func TestUpgradeToProfiles(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	pool := rawPool(t, dsn)
	ctx := t.Context()
	step := slices.IndexFunc(migrations, func(m migration) bool { return m.name == "profiles" })
	if step < 0 {
		t.Fatal(`no migration step is named "profiles"`)
	}
	if _, err := migrate(ctx, pool, migrations[:step]); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO rooms (room_id, version, created_ts) VALUES ('!r:t', '10', 5);
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			prev_events, json, status, reject_reason, state_before, state_after)
		VALUES ('$m', '!r:t', 'm.room.message', NULL, '@a:t', 1, 100, '{}', '{"m":1}', 'accepted', '', 0, 0);`); err != nil {
		t.Fatal(err)
	}

	s := openDSN(t, dsn)
	storetest.CheckUpgradedToProfiles(t, s)
	if v := schemaVersion(t, pool); v != len(migrations) {
		t.Fatalf("schema version after the upgrade: %d, want %d", v, len(migrations))
	}
}
