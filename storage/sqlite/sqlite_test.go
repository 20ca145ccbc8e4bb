package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storage.Store { return openTemp(t) })
}

func TestPersistence(t *testing.T) {
	storetest.RunPersistence(t, func(t *testing.T, path string) storage.Store {
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// rawDB opens path without the store, for looking at or tampering with
// the file.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn(abs, url.Values{"_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&v); err != nil {
		t.Fatalf("user_version: %v", err)
	}
	return v
}

// schema returns the file's schema objects and their SQL.
func schema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(),
		`SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenCreatesCurrentSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db := rawDB(t, path)
	if v := userVersion(t, db); v != len(migrations) {
		t.Fatalf("user_version after Open: %d, want %d", v, len(migrations))
	}
	got := strings.Join(schema(t, db), "\n")
	for _, name := range []string{"table events", "index events_room_stream", "table current_state",
		"table forward_extremities", "index outbound_queue_by_dest", "table outbound_txns", "index invites_by_user",
		"table relations", "index relations_by_target", "table redactions", "index redactions_by_target",
		"index outbound_queue_unsent_by_event", "table room_aliases", "index room_aliases_by_room",
		"table published_rooms"} {
		if !strings.Contains(got, name+":") {
			t.Errorf("schema has no %s", name)
		}
	}
}

func TestReopenAtCurrentVersionIsNoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.AddSigningKey(t.Context(), storage.SigningKey{KeyID: "ed25519:a", Seed: []byte("seed")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	db := rawDB(t, path)
	before := schema(t, db)
	applied, err := migrate(t.Context(), db, migrations)
	if err != nil {
		t.Fatalf("migrate at the current version: %v", err)
	}
	if applied != 0 {
		t.Fatalf("migrate at the current version applied %d steps, want 0", applied)
	}
	db.Close()

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open at the current version: %v", err)
	}
	defer s.Close()
	keys, err := s.SigningKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("SigningKeys after reopen: %v, %v", keys, err)
	}
	db = rawDB(t, path)
	if after := schema(t, db); !slices.Equal(before, after) {
		t.Fatalf("schema changed by reopening:\nbefore %q\nafter  %q", before, after)
	}
	if v := userVersion(t, db); v != len(migrations) {
		t.Fatalf("user_version after reopen: %d, want %d", v, len(migrations))
	}
}

// TestEventsByTimeUsesIndex checks that EventsByTime, both ways, reads the
// events_room_time index rather than the whole room.
func TestEventsByTimeUsesIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	db := rawDB(t, path)
	for name, q := range map[string]string{
		"forward": `SELECT e.event_id FROM events e WHERE e.room_id = '!r:t' AND e.status = 'accepted'
			AND e.origin_server_ts >= 5 ORDER BY e.origin_server_ts, e.stream_pos LIMIT 100`,
		"backward": `SELECT e.event_id FROM events e WHERE e.room_id = '!r:t' AND e.status = 'accepted'
			AND e.origin_server_ts <= 5 ORDER BY e.origin_server_ts DESC, e.stream_pos DESC LIMIT 100`,
	} {
		t.Run(name, func(t *testing.T) {
			rows, err := db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(plan, "\n")
			if !strings.Contains(got, "events_room_time") || strings.Contains(got, "TEMP B-TREE") {
				t.Fatalf("plan:\n%s", got)
			}
		})
	}
}

// TestQueueRedactionUsesIndex checks that finding the unsent copies of a
// redacted event reads the partial index, not the whole queue.
func TestQueueRedactionUsesIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	rows, err := rawDB(t, path).QueryContext(t.Context(), `EXPLAIN QUERY PLAN
		UPDATE outbound_queue SET payload = X'00' WHERE event_id = '$e' AND txn_id IS NULL AND kind = 'pdu'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "USING INDEX outbound_queue_unsent_by_event (event_id=?)") {
		t.Fatalf("query plan of the redaction's queue update: %s", got)
	}
}

func TestMigrationStepsApplyInOrder(t *testing.T) {
	db := rawDB(t, filepath.Join(t.TempDir(), "m.db"))
	v1 := []migration{{name: "one", sql: `CREATE TABLE t (a INTEGER)`}}
	v2 := append(slices.Clone(v1),
		migration{name: "two", sql: `ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'; INSERT INTO t (a) VALUES (1)`})

	for _, step := range []struct {
		steps   []migration
		applied int
	}{{v1, 1}, {v1, 0}, {v2, 1}, {v2, 0}} {
		applied, err := migrate(t.Context(), db, step.steps)
		if err != nil {
			t.Fatalf("migrate to %d: %v", len(step.steps), err)
		}
		if applied != step.applied {
			t.Fatalf("migrate to %d: applied %d steps, want %d", len(step.steps), applied, step.applied)
		}
		if v := userVersion(t, db); v != len(step.steps) {
			t.Fatalf("user_version %d, want %d", v, len(step.steps))
		}
	}
	var b string
	if err := db.QueryRowContext(t.Context(), `SELECT b FROM t WHERE a = 1`).Scan(&b); err != nil || b != "x" {
		t.Fatalf("step two's effect: %q, %v", b, err)
	}
	if _, err := migrate(t.Context(), db, v1); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("migrate back to 1 from 2: got %v, want ErrSchemaTooNew", err)
	}
}

func TestFailedMigrationStoresNothing(t *testing.T) {
	db := rawDB(t, filepath.Join(t.TempDir(), "m.db"))
	steps := []migration{
		{name: "good", sql: `CREATE TABLE good (a INTEGER)`},
		{name: "bad", sql: `CREATE TABLE broken (`},
	}
	_, err := migrate(t.Context(), db, steps)
	if err == nil || !strings.Contains(err.Error(), "version 2 (bad)") {
		t.Fatalf("migrate with a broken step: got %v, want an error naming it", err)
	}
	if v := userVersion(t, db); v != 0 {
		t.Fatalf("user_version after a failed migration: %d, want 0", v)
	}
	if got := schema(t, db); len(got) != 0 {
		t.Fatalf("schema after a failed migration: %q, want nothing", got)
	}
}

func TestFutureVersionRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	db := rawDB(t, path)
	future := len(migrations) + 1
	if _, err := db.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", future)); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a file at a future schema version: got no error")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a future version: got %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, fmt.Sprintf("version %d", future), fmt.Sprintf("up to %d", len(migrations))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if v := userVersion(t, db); v != future {
		t.Fatalf("user_version after a refused Open: %d, want %d", v, future)
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q): got no error", p)
		}
	}
}

func TestPathNeedsEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "store.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store is not at the given path: %v", err)
	}
}

func TestConnectionSetup(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	pragma := func(db *sql.DB, name string) string {
		t.Helper()
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, c := range []struct {
		db         *sql.DB
		name, want string
	}{
		{s.w, "journal_mode", "wal"},
		{s.r, "journal_mode", "wal"},
		{s.w, "foreign_keys", "1"},
		{s.r, "foreign_keys", "1"},
		{s.w, "busy_timeout", fmt.Sprint(busyTimeoutMS)},
		{s.r, "busy_timeout", fmt.Sprint(busyTimeoutMS)},
		{s.w, "synchronous", "2"}, // FULL
		{s.r, "query_only", "1"},
		{s.w, "query_only", "0"},
	} {
		if got := pragma(c.db, c.name); got != c.want {
			t.Errorf("PRAGMA %s: got %s, want %s", c.name, got, c.want)
		}
	}
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections: %d, want 1", got)
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO rooms (room_id, version, created_ts) VALUES ('!x', '1', 0)`); err == nil {
		t.Error("a write through the read pool succeeded")
	}
}

// TestTwoStoresOneFile has two Store values on one file write at once, as
// two processes would: they must wait for each other, not fail.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := t.Context()
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer s.Close()
		stores[i] = s
	}
	const rid = "!shared:t"
	if _, err := stores[0].WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: "10"}}); err != nil {
		t.Fatal(err)
	}

	const workers, rounds = 8, 25
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		all []int64
	)
	errs := make(chan error, workers)
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("$%d-%d", w, i)
				pos, err := s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{
					Event:        storage.Event{EventID: id, RoomID: rid, Type: "m.room.message", JSON: []byte(`{}`)},
					Extremity:    true,
					Destinations: []string{"d.example"},
				}}})
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				if err := s.EnqueueEDU(ctx, "d.example", []byte(`{}`)); err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				mu.Lock()
				all = append(all, pos...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slices.Sort(all)
	if len(slices.Compact(all)) != workers*rounds {
		t.Fatalf("got %d distinct stream positions, want %d", len(slices.Compact(all)), workers*rounds)
	}
	evs, err := stores[1].RoomEvents(ctx, rid, 0, 1000)
	if err != nil || len(evs) != workers*rounds {
		t.Fatalf("RoomEvents: %d events, %v; want %d", len(evs), err, workers*rounds)
	}
}

func TestCloseTwice(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Rooms(context.Background()); err == nil {
		t.Fatal("Rooms after Close: got no error")
	}
}

func TestNextTransactionLimits(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	if _, err := s.NextTransaction(ctx, "d.example", -1, 10); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("negative limit: got %v, want an error other than ErrNotFound", err)
	}
	const rid = "!r:t"
	if _, err := s.WriteRoom(ctx, storage.RoomWrite{
		Room: &storage.Room{RoomID: rid, Version: "10"},
		Events: []storage.EventUpdate{{
			Event:        storage.Event{EventID: "$e", RoomID: rid, Type: "m.room.message", JSON: []byte(`{"e":1}`)},
			Destinations: []string{"d.example"},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	// Only a PDU is queued: a transaction allowing none opens nothing.
	if _, err := s.NextTransaction(ctx, "d.example", 0, 10); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("maxPDUs 0 with only PDUs queued: got %v, want ErrNotFound", err)
	}
	txn, err := s.NextTransaction(ctx, "d.example", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(txn.PDUs) != 1 || string(txn.PDUs[0]) != `{"e":1}` || len(txn.EDUs) != 0 {
		t.Fatalf("transaction after an empty one was refused: %+v", txn)
	}
}
