// Package sqlite is the default storage.Store: one SQLite file, reached
// through github.com/mattn/go-sqlite3 (cgo).
//
// The package owns that file: its schema and the ordered migrations that
// bring an older file up to date at Open, and every query the store runs.
// It never parses event JSON or queue payloads; it stores the bytes it is
// given next to the copied fields it queries on.
//
// The file is kept in WAL mode so readers never wait for the writer. All
// writes go through one dedicated connection, each in a BEGIN IMMEDIATE
// transaction, so writers of this Store queue up in Go instead of failing
// with "database is locked"; other processes or Store values on the same
// file wait for the write lock through busy_timeout. Reads use a separate
// pool of query-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/embedmatrix/homeserver/storage"
)

var _ storage.Store = (*Store)(nil)

// busyTimeoutMS is how long a connection waits for a lock another
// connection (in this process or another) holds before giving up.
const busyTimeoutMS = 10000

// Store is a storage.Store kept in one SQLite file. It is safe for
// concurrent use; Close it when done.
type Store struct {
	w *sql.DB // the single write connection
	r *sql.DB // the read pool

	closeOnce sync.Once
	closeErr  error
}

// Open opens the SQLite store at path, creating the file if it does not
// exist, and migrates its schema to the current version. It refuses a file
// whose schema is newer than this package knows (ErrSchemaTooNew).
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	w, err := sql.Open("sqlite3", dsn(abs, url.Values{
		"_txlock":       {"immediate"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"on"},
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	if err := checkWAL(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if _, err := migrate(ctx, w, migrations); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	r, err := sql.Open("sqlite3", dsn(abs, url.Values{
		"_query_only":   {"on"},
		"_foreign_keys": {"on"},
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: read pool: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: read pool: %w", path, err)
	}
	return &Store{w: w, r: r}, nil
}

// dsn builds a go-sqlite3 URI for the absolute path abs.
func dsn(abs string, params url.Values) string {
	u := url.URL{Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() + "?" + params.Encode()
}

// checkWAL makes sure the file really is in WAL mode: the journal_mode
// pragma falls back silently where WAL is not available, and without it
// readers would block the writer.
func checkWAL(ctx context.Context, w *sql.DB) error {
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, WAL is required", mode)
	}
	return nil
}

// Close closes both connection pools. Calling it again returns the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// write runs fn in one write transaction (BEGIN IMMEDIATE on the write
// connection) and commits if fn returns nil. Errors are wrapped as
// "sqlite: <op>: ...". fn must use only tx: the write connection is busy
// until it returns.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", op, err)
	}
	return nil
}

// notFound returns an error about what matching storage.ErrNotFound.
func notFound(what string) error {
	return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
}

// blob returns b, or an empty slice for nil: go-sqlite3 binds a nil
// []byte as NULL, and the store's byte columns are NOT NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// placeholders returns "?, ?, ?" for n parameters.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
