package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/embedmatrix/homeserver/storage"
)

// rawPool opens a pool on dsn without the store, for looking at or
// tampering with the database. It is closed when t ends, before the
// database is dropped.
func rawPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// schemaVersion returns the highest version recorded in schema_migrations.
func schemaVersion(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var v int
	if err := pool.QueryRow(t.Context(), `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatalf("schema version: %v", err)
	}
	return v
}

// catalog lists the columns, indexes and sequences of the current schema.
func catalog(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' ||
			COALESCE(collation_name, '') || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
		FROM information_schema.columns WHERE table_schema = current_schema()
		UNION ALL
		SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
		UNION ALL
		SELECT 'sequence ' || sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()
		ORDER BY 1`)
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
	t.Parallel()
	dsn := freshDB(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	pool := rawPool(t, dsn)
	if v := schemaVersion(t, pool); v != len(migrations) {
		t.Fatalf("schema version after Open: %d, want %d", v, len(migrations))
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(migrations) {
		t.Fatalf("schema_migrations rows: %d, %v; want one per step (%d)", n, err, len(migrations))
	}
	got := strings.Join(catalog(t, pool), "\n")
	for _, name := range []string{"index events_room_stream", "column current_state.event_id",
		"column forward_extremities.event_id", "index outbound_queue_unsent", "column outbound_txns.txn_id",
		"index invites_by_user", "column receipts.ts", "sequence events_stream_pos_seq",
		"column events.redacted_by", "index relations_by_target", "column relations.key",
		"index redactions_by_target", "column redactions.applied boolean",
		"column outbound_queue.event_id bytea", "index outbound_queue_unsent_by_event",
		"column room_aliases.servers", "index room_aliases_by_room", "column published_rooms.room_id bytea"} {
		if !strings.Contains(got, name) {
			t.Errorf("schema has no %s", name)
		}
	}
	// Every string the store is given lives in bytea (any bytes, byte
	// order); text is left to the store's own enums.
	var text []string
	for _, line := range catalog(t, pool) {
		if strings.HasPrefix(line, "column ") && (strings.Contains(line, " text ") || strings.Contains(line, " character")) {
			text = append(text, strings.Fields(line)[1])
		}
	}
	if want := []string{"events.status", "outbound_queue.kind", "schema_migrations.name"}; !slices.Equal(text, want) {
		t.Errorf("text columns: %q, want only %q", text, want)
	}
}

func TestReopenAtCurrentVersionIsNoop(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.AddSigningKey(t.Context(), storage.SigningKey{KeyID: "ed25519:a", Seed: []byte("seed")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	pool := rawPool(t, dsn)
	before := catalog(t, pool)
	applied, err := migrate(t.Context(), pool, migrations)
	if err != nil {
		t.Fatalf("migrate at the current version: %v", err)
	}
	if applied != 0 {
		t.Fatalf("migrate at the current version applied %d steps, want 0", applied)
	}

	s = openDSN(t, dsn)
	keys, err := s.SigningKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("SigningKeys after reopen: %v, %v", keys, err)
	}
	if after := catalog(t, pool); !slices.Equal(before, after) {
		t.Fatalf("schema changed by reopening:\nbefore %q\nafter  %q", before, after)
	}
	if v := schemaVersion(t, pool); v != len(migrations) {
		t.Fatalf("schema version after reopen: %d, want %d", v, len(migrations))
	}
}

// TestQueueRedactionUsesIndex checks that finding the unsent copies of a
// redacted event can read the partial index, not the whole queue.
func TestQueueRedactionUsesIndex(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	openDSN(t, dsn)
	pool := rawPool(t, dsn)
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The queue is empty, so tell the planner a scan costs too much.
	if _, err := conn.Exec(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(t.Context(), `RESET enable_seqscan`)
	for _, q := range []string{
		`EXPLAIN SELECT destination FROM outbound_queue
			WHERE event_id = ANY(ARRAY['$e'::bytea]) AND txn_id IS NULL AND kind = 'pdu'`,
		`EXPLAIN UPDATE outbound_queue SET payload = '\x00'
			WHERE event_id = '$e'::bytea AND txn_id IS NULL AND kind = 'pdu'`,
	} {
		rows, err := conn.Query(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := collect(rows, func(rows pgx.Rows) (string, error) {
			var l string
			err := rows.Scan(&l)
			return l, err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(lines, "\n"); !strings.Contains(got, "outbound_queue_unsent_by_event") {
			t.Fatalf("plan of %s:\n%s", q, got)
		}
	}
}

func TestMigrationStepsApplyInOrder(t *testing.T) {
	t.Parallel()
	pool := rawPool(t, freshDB(t))
	v1 := []migration{{name: "one", sql: `CREATE TABLE t (a INTEGER)`}}
	v2 := append(slices.Clone(v1),
		migration{name: "two", sql: `ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'; INSERT INTO t (a) VALUES (1)`})

	for _, step := range []struct {
		steps   []migration
		applied int
	}{{v1, 1}, {v1, 0}, {v2, 1}, {v2, 0}} {
		applied, err := migrate(t.Context(), pool, step.steps)
		if err != nil {
			t.Fatalf("migrate to %d: %v", len(step.steps), err)
		}
		if applied != step.applied {
			t.Fatalf("migrate to %d: applied %d steps, want %d", len(step.steps), applied, step.applied)
		}
		if v := schemaVersion(t, pool); v != len(step.steps) {
			t.Fatalf("schema version %d, want %d", v, len(step.steps))
		}
	}
	var b string
	if err := pool.QueryRow(t.Context(), `SELECT b FROM t WHERE a = 1`).Scan(&b); err != nil || b != "x" {
		t.Fatalf("step two's effect: %q, %v", b, err)
	}
	var names []string
	rows, err := pool.Query(t.Context(), `SELECT version || ' ' || name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if rows.Err() != nil || !slices.Equal(names, []string{"1 one", "2 two"}) {
		t.Fatalf("schema_migrations: %q, %v", names, rows.Err())
	}
	if _, err := migrate(t.Context(), pool, v1); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("migrate back to 1 from 2: got %v, want ErrSchemaTooNew", err)
	}
}

func TestFailedMigrationStoresNothing(t *testing.T) {
	t.Parallel()
	pool := rawPool(t, freshDB(t))
	steps := []migration{
		{name: "good", sql: `CREATE TABLE good (a INTEGER)`},
		{name: "bad", sql: `CREATE TABLE broken (`},
	}
	_, err := migrate(t.Context(), pool, steps)
	if err == nil || !strings.Contains(err.Error(), "version 2 (bad)") {
		t.Fatalf("migrate with a broken step: got %v, want an error naming it", err)
	}
	var tables []string
	rows, err := pool.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if len(tables) != 0 {
		t.Fatalf("tables after a failed migration: %q, want none (not even schema_migrations)", tables)
	}
}

func TestFutureVersionRefused(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	pool := rawPool(t, dsn)
	future := len(migrations) + 1
	if _, err := pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')`, future); err != nil {
		t.Fatal(err)
	}
	before := catalog(t, pool)

	s, err = Open(t.Context(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database at a future schema version: got no error")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a future version: got %v, want ErrSchemaTooNew", err)
	}
	u, _ := url.Parse(dsn)
	for _, want := range []string{"postgres: open database", fmt.Sprintf("version %d", future), fmt.Sprintf("up to %d", len(migrations))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if u != nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), ":"+pw+"@") {
			t.Errorf("error %q shows the password", err)
		}
	}
	if v := schemaVersion(t, pool); v != future {
		t.Fatalf("schema version after a refused Open: %d, want %d", v, future)
	}
	if after := catalog(t, pool); !slices.Equal(before, after) {
		t.Fatal("a refused Open changed the schema")
	}
}

// TestConcurrentOpens has several processes' worth of Opens race on one
// new database: all succeed, and the steps are applied once.
func TestConcurrentOpens(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		t.FailNow()
	}
	pool := rawPool(t, dsn)
	var rows int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(migrations) {
		t.Fatalf("schema_migrations rows after %d concurrent Opens: %d, %v; want %d", n, rows, err, len(migrations))
	}
	// Every store works on the one schema.
	for i, s := range stores {
		if err := s.EnqueueEDU(t.Context(), "d.example", []byte(`{}`)); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
}

// TestConcurrentMigrateIsSerialized runs one step that fails if applied
// twice (a plain CREATE TABLE) from many pools at once: the advisory lock
// lets exactly one apply it.
func TestConcurrentMigrateIsSerialized(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	steps := []migration{
		{name: "slow", sql: `SELECT pg_sleep(0.2); CREATE TABLE once (a INTEGER)`},
		{name: "fill", sql: `INSERT INTO once VALUES (1)`},
	}
	const n = 6
	applied := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		pool := rawPool(t, dsn) // one pool each, as separate processes would have
		wg.Go(func() { applied[i], errs[i] = migrate(t.Context(), pool, steps) })
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("migrate %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != len(steps) {
		t.Fatalf("steps applied in all: %d (%v), want %d", total, applied, len(steps))
	}
	var rows int
	if err := rawPool(t, dsn).QueryRow(t.Context(), `SELECT count(*) FROM once`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("rows in once: %d, %v; want 1", rows, err)
	}
}

// TestStoresInSchemas keeps two stores in one database, each in the
// schema its DSN's search_path names.
func TestStoresInSchemas(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	pool := rawPool(t, dsn)
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA one; CREATE SCHEMA two`); err != nil {
		t.Fatal(err)
	}
	inSchema := func(schema string) string {
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme == "" {
			return dsn + " search_path=" + schema
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	one, two := openDSN(t, inSchema("one")), openDSN(t, inSchema("two"))
	if err := one.AddSigningKey(t.Context(), storage.SigningKey{KeyID: "ed25519:one"}); err != nil {
		t.Fatal(err)
	}
	keys, err := two.SigningKeys(t.Context())
	if err != nil || len(keys) != 0 {
		t.Fatalf("the store in schema two sees %v, %v", keys, err)
	}
	for _, schema := range []string{"one", "two"} {
		var exists bool
		if err := pool.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, schema+".events").Scan(&exists); err != nil || !exists {
			t.Fatalf("%s.events: %v, %v", schema, exists, err)
		}
	}
	var inPublic bool
	if err := pool.QueryRow(t.Context(), `SELECT to_regclass('public.events') IS NOT NULL`).Scan(&inPublic); err != nil || inPublic {
		t.Fatalf("public.events exists (%v, %v): a store wrote outside its schema", inPublic, err)
	}
}
