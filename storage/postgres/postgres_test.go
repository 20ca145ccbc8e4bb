package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/storetest"
)

// The tests need a real PostgreSQL server. HS_POSTGRES_DSN names a
// database on it whose role may create databases (.ci/postgres.sh sets one
// up and prints the line to export); every test makes its own database
// from it and drops it at the end, so tests run in parallel and never see
// each other's rows. Without HS_POSTGRES_DSN the tests skip, unless
// HS_POSTGRES_REQUIRED=1, when they fail.
const (
	envDSN      = "HS_POSTGRES_DSN"
	envRequired = "HS_POSTGRES_REQUIRED"
)

var admin struct {
	once sync.Once
	pool *pgxpool.Pool
	dsn  string
	err  error
}

// TestMain closes the shared admin pool once every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if admin.pool != nil {
		admin.pool.Close()
	}
	os.Exit(code)
}

// adminPool returns a pool on the database HS_POSTGRES_DSN names, used to
// create and drop the tests' databases, and that DSN. It skips or fails t
// when the DSN is not set.
func adminPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		msg := envDSN + " is not set: the PostgreSQL store tests need a server " +
			"(run `eval \"$(bash .ci/postgres.sh)\"` to set one up)"
		if os.Getenv(envRequired) == "1" {
			t.Fatal(msg + ", and " + envRequired + "=1 makes that a failure")
		}
		t.Skip(msg)
	}
	admin.once.Do(func() {
		admin.dsn = dsn
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin.pool, admin.err = pgxpool.New(ctx, dsn)
		if admin.err == nil {
			admin.err = admin.pool.Ping(ctx)
		}
	})
	if admin.err != nil {
		t.Fatalf("connect to %s: %v", envDSN, admin.err)
	}
	return admin.pool, admin.dsn
}

// freshDB creates an empty database for t, drops it when t ends (after
// the stores t opened on it are closed), and returns a DSN for it.
func freshDB(t testing.TB) string {
	t.Helper()
	pool, base := adminPool(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hs_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// template0 is never connected to, so concurrent creates do not fail
	// with "source database is being accessed by other users".
	if _, err := pool.Exec(ctx, `CREATE DATABASE `+ident+` TEMPLATE template0`); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends the other sessions on the database, but a role that is
		// not a superuser may not end one of another role: an autovacuum
		// worker that happens to be on the new database (SQLSTATE 42501,
		// seen in CI). It soon leaves: try again for a while.
		var err error
		for try := 0; try < 60; try++ {
			if _, err = pool.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err == nil {
				return
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "55006") {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Errorf("drop database %s: %v", name, err)
	})
	return withDatabase(t, base, name)
}

// withDatabase returns dsn with its database changed to name.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", envDSN, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// key=value form: a later key wins.
	return dsn + " dbname=" + name
}

// openDSN opens a Store on dsn and closes it when t ends.
func openDSN(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openFresh opens a Store on a new database of its own.
func openFresh(t *testing.T) *Store {
	t.Helper()
	return openDSN(t, freshDB(t))
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adminPool(t)
	storetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(t.Context(), freshDB(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // the suite closes it
	})
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	adminPool(t)
	// The suite names a file; here each path stands for a database, made
	// on first use and opened again for every later use of the path.
	var (
		mu  sync.Mutex
		dbs = map[string]string{}
	)
	storetest.RunPersistence(t, func(t *testing.T, path string) storage.Store {
		mu.Lock()
		dsn, ok := dbs[path]
		if !ok {
			dsn = freshDB(t)
			dbs[path] = dsn
		}
		mu.Unlock()
		s, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // the suite closes it
	})
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), freshDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Rooms(context.Background()); err == nil {
		t.Fatal("Rooms after Close: got no error")
	}
	if err := s.EnqueueEDU(context.Background(), "d.example", []byte(`{}`)); err == nil {
		t.Fatal("EnqueueEDU after Close: got no error")
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	_, base := adminPool(t)
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Skipf("%s is not a URL; this test rewrites its password", envDSN)
	}
	const secret = "not-the-password-Zq81"
	u.User = url.UserPassword(u.User.Username(), secret)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, u.String())
	if err == nil {
		s.Close()
		t.Skip("the server accepted any password (trust authentication)")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("Open's error shows the password: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "postgres: open") {
		t.Fatalf("Open's error is not wrapped as postgres: open ...: %v", err)
	}

	if _, err := Open(ctx, "postgres://u:"+secret+"@host:notaport/db"); err == nil ||
		strings.Contains(err.Error(), secret) {
		t.Fatalf("Open of a malformed DSN: got %v, want an error without the password", err)
	}
}

func TestNextTransactionLimits(t *testing.T) {
	t.Parallel()
	s := openFresh(t)
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

// TestErrorsWrapped checks that errors name the backend and that a
// missing record matches storage.ErrNotFound through the wrapping.
func TestErrorsWrapped(t *testing.T) {
	t.Parallel()
	s := openFresh(t)
	ctx := t.Context()
	ignore := func(_ any, err error) error { return err }
	missing := map[string]func() error{
		"Room":       func() error { return ignore(s.Room(ctx, "!x:t")) },
		"Event":      func() error { return ignore(s.Event(ctx, "$x")) },
		"StateEvent": func() error { return ignore(s.StateEvent(ctx, "!x:t", "m.room.create", "")) },
		"Snapshot":   func() error { return ignore(s.Snapshot(ctx, 42)) },
		"WriteSnapshot": func() error {
			return ignore(s.WriteSnapshot(ctx, "!x:t", 42, []storage.StateEntry{{Type: "a", EventID: "$a"}}))
		},
		"Invite":             func() error { return ignore(s.Invite(ctx, "!x:t", "@u:t")) },
		"SetInviteState":     func() error { return s.SetInviteState(ctx, "!x:t", "@u:t", storage.InviteAccepted, 1) },
		"ExpireSigningKey":   func() error { return s.ExpireSigningKey(ctx, "ed25519:x", 1) },
		"NextTransaction":    func() error { return ignore(s.NextTransaction(ctx, "d.example", 1, 1)) },
		"InboundTransaction": func() error { return ignore(s.InboundTransaction(ctx, "o.example", "t")) },
		"WriteRoom into a missing room": func() error {
			return ignore(s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{
				{Event: storage.Event{EventID: "$e", RoomID: "!x:t"}},
			}}))
		},
	}
	for name, call := range missing {
		err := call()
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: got %v, want an error matching storage.ErrNotFound", name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("%s: error %q does not start with \"postgres: \"", name, err)
		}
	}
	if err := s.AddSigningKey(ctx, storage.SigningKey{KeyID: "ed25519:k"}); err != nil {
		t.Fatal(err)
	}
	err := s.AddSigningKey(ctx, storage.SigningKey{KeyID: "ed25519:k"})
	if err == nil || errors.Is(err, storage.ErrNotFound) || !strings.HasPrefix(err.Error(), "postgres: add signing key ed25519:k: ") {
		t.Fatalf("duplicate AddSigningKey: got %v", err)
	}
}

// TestByteOrder checks that every order the store returns is byte order,
// as storage/sqlite's is, even in a database whose default collation
// would put "a" before "B".
func TestByteOrder(t *testing.T) {
	t.Parallel()
	s := openFresh(t)
	ctx := t.Context()
	const rid = "!r:t"
	ids := []string{"$b", "$B", "$a", "$é", "$z", "$_"} // byte order: $B $_ $a $b $z $é
	want := []string{"$B", "$_", "$a", "$b", "$z", "$é"}
	var ups []storage.EventUpdate
	for _, id := range ids {
		sk := "@" + id[1:] + ":t"
		ups = append(ups, storage.EventUpdate{
			Event:     storage.Event{EventID: id, RoomID: rid, Type: "m.room.member", StateKey: &sk, JSON: []byte(`{}`)},
			SetState:  true,
			Extremity: true,
		})
	}
	if _, err := s.WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: "10"}, Events: ups}); err != nil {
		t.Fatal(err)
	}
	ext, err := s.ForwardExtremities(ctx, rid)
	if err != nil || strings.Join(ext, " ") != strings.Join(want, " ") {
		t.Fatalf("ForwardExtremities: got %q, %v; want %q", ext, err, want)
	}
	st, err := s.CurrentState(ctx, rid)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range st {
		got = append(got, e.EventID)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("CurrentState order: got %q, want %q", got, want)
	}
	var delta []storage.StateEntry
	for _, id := range ids {
		delta = append(delta, storage.StateEntry{Type: "m.room.member", StateKey: id, EventID: id})
	}
	snap, err := s.WriteSnapshot(ctx, rid, 0, delta)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.Snapshot(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, e := range entries {
		got = append(got, e.StateKey)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Snapshot order: got %q, want %q", got, want)
	}
	for _, d := range []string{"b.example", "B.example", "a.example"} {
		if err := s.EnqueueEDU(ctx, d, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	dests, err := s.PendingDestinations(ctx)
	if err != nil || strings.Join(dests, " ") != "B.example a.example b.example" {
		t.Fatalf("PendingDestinations: got %q, %v", dests, err)
	}
}

// TestSnapshotDeltaLastEntryWins checks that a key given twice in one
// delta ends as the last entry says, on both the delta and the full-copy
// path.
func TestSnapshotDeltaLastEntryWins(t *testing.T) {
	t.Parallel()
	s := openFresh(t)
	ctx := t.Context()
	full, err := s.WriteSnapshot(ctx, "!r:t", 0, []storage.StateEntry{
		{Type: "a", EventID: "$1"}, {Type: "a", EventID: "$2"}, {Type: "b", EventID: "$b"}, {Type: "b", EventID: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Snapshot(ctx, full)
	if err != nil || len(got) != 1 || got[0].EventID != "$2" {
		t.Fatalf("full snapshot: got %v, %v; want a=$2 only", got, err)
	}
	delta, err := s.WriteSnapshot(ctx, "!r:t", full, []storage.StateEntry{
		{Type: "a", EventID: "$3"}, {Type: "a", EventID: ""}, {Type: "c", EventID: "$c1"}, {Type: "c", EventID: "$c2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Snapshot(ctx, delta)
	if err != nil || len(got) != 1 || got[0] != (storage.StateEntry{Type: "c", EventID: "$c2"}) {
		t.Fatalf("delta snapshot: got %v, %v; want c=$c2 only", got, err)
	}
	empty, err := s.WriteSnapshot(ctx, "!r:t", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Snapshot(ctx, empty)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty snapshot: got %v, %v", got, err)
	}
}

// TestOpenRefusesExecModesWithoutDescribe checks that Open refuses the
// query exec modes that would send strings to bytea columns as text, and
// that the modes that describe statements work.
func TestOpenRefusesExecModesWithoutDescribe(t *testing.T) {
	t.Parallel()
	dsn := freshDB(t)
	withMode := func(mode string) string {
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme == "" {
			return dsn + " default_query_exec_mode=" + mode
		}
		q := u.Query()
		q.Set("default_query_exec_mode", mode)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, mode := range []string{"simple_protocol", "exec"} {
		s, err := Open(t.Context(), withMode(mode))
		if err == nil {
			s.Close()
			t.Fatalf("Open with default_query_exec_mode=%s: got no error", mode)
		}
		if !strings.Contains(err.Error(), "default_query_exec_mode") {
			t.Fatalf("Open with %s: error %q does not say why", mode, err)
		}
	}
	for _, mode := range []string{"cache_statement", "cache_describe", "describe_exec"} {
		s := openDSN(t, withMode(mode))
		sk := "k\x00\\x41"
		if _, err := s.WriteRoom(t.Context(), storage.RoomWrite{Room: &storage.Room{RoomID: "!" + mode, Version: "10"},
			Events: []storage.EventUpdate{{Event: storage.Event{EventID: "$" + mode, RoomID: "!" + mode, Type: "t", StateKey: &sk, JSON: []byte("{}")}, SetState: true}}}); err != nil {
			t.Fatalf("%s: WriteRoom: %v", mode, err)
		}
		e, err := s.StateEvent(t.Context(), "!"+mode, "t", sk)
		if err != nil || e.StateKey == nil || *e.StateKey != sk {
			t.Fatalf("%s: StateEvent = %+v, %v", mode, e, err)
		}
	}
}
