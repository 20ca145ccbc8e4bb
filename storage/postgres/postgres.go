package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/embedmatrix/homeserver/storage"
)

var _ storage.Store = (*Store)(nil)

// Store is a storage.Store kept in one PostgreSQL database. It is safe for
// concurrent use, and several Stores (in one process or many) may share
// the database. Close it when done.
type Store struct {
	pool *pgxpool.Pool
	// where names the database in errors: "database hs on 127.0.0.1:5432".
	// It never holds the password.
	where string

	closeOnce sync.Once
}

// Open connects to the PostgreSQL database named by dsn (a URL such as
// "postgres://user:pass@host:5432/db?sslmode=disable" or a "key=value"
// string, as pgx and libpq read them; pool settings such as pool_max_conns
// are honoured) and migrates its schema to the current version. It refuses
// a database whose schema is newer than this package knows
// (ErrSchemaTooNew). The tables live in the first schema of the
// connection's search_path, so one database can hold several stores in
// different schemas.
//
// The store needs the server to describe its statements, so it refuses
// default_query_exec_mode simple_protocol and exec; the default
// (cache_statement), cache_describe and describe_exec all work.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx leaves the password out of its parse errors.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	where := fmt.Sprintf("database %s on %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	switch mode := cfg.ConnConfig.DefaultQueryExecMode; mode {
	case pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec:
		// Both pick parameter formats without asking the server, and would
		// send strings to bytea columns as text (see bytes.go).
		return nil, fmt.Errorf("postgres: open %s: default_query_exec_mode %s is not supported: "+
			"use cache_statement (the default), cache_describe or describe_exec", where, mode)
	}
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if after != nil {
			if err := after(ctx, conn); err != nil {
				return err
			}
		}
		return registerTypes(ctx, conn)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if _, err := migrate(ctx, pool, migrations); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	return &Store{pool: pool, where: where}, nil
}

// Close closes the connection pool, waiting for connections in use to be
// returned. Calling it again does nothing; every method fails after it.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// maxAttempts bounds how many times write runs a transaction that failed
// for a reason a retry can cure.
const maxAttempts = 8

// errRetry asks write to run the transaction again: it saw a conflict with
// a concurrent writer that the next attempt, starting afresh, will not.
var errRetry = errors.New("conflict with a concurrent write")

// write runs fn in one READ COMMITTED transaction and commits if fn
// returns nil. A transaction that fails on a deadlock, a serialization
// failure or errRetry is rolled back and run again, up to maxAttempts
// times, so fn must do nothing but through tx and must set its results
// afresh on each run. Errors are wrapped as "postgres: <op>: ...".
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			// Back off a little, with jitter, so the writers that collided
			// do not collide again.
			d := time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond)))
			select {
			case <-ctx.Done():
				return fmt.Errorf("postgres: %s: %w (after %v)", op, ctx.Err(), err)
			case <-time.After(d):
			}
		}
		err = s.tryWrite(ctx, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) {
			break
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// tryWrite is one attempt of write.
func (s *Store) tryWrite(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return inTx(ctx, s.pool, fn)
}

// inTx runs fn in one READ COMMITTED transaction of pool, committed when
// fn returns nil and rolled back otherwise; it never runs fn twice.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retryable reports whether err is a conflict that running the
// transaction again can cure.
func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", // serialization_failure
			"40P01": // deadlock_detected
			return true
		}
	}
	return false
}

// Advisory lock classes: the first key of the two-key advisory locks this
// package takes, so they never meet another application's locks or each
// other. 0x6873 is "hs".
const (
	lockMigrate     int32 = 0x6873_0001
	lockRoom        int32 = 0x6873_0002
	lockDestination int32 = 0x6873_0003
)

// lockKey is the second key of an advisory lock on name. Two names may
// share a key; they then only wait for each other needlessly.
func lockKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// lockAll takes the transaction-level advisory locks of class on names,
// in key order, so that two transactions locking overlapping sets never
// wait for each other in a cycle. The locks are held until tx ends.
func lockAll(ctx context.Context, tx pgx.Tx, class int32, names ...string) error {
	keys := make([]int32, 0, len(names))
	for _, n := range names {
		keys = append(keys, lockKey(n))
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, class, k); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	return nil
}

// notFound returns an error about what matching storage.ErrNotFound.
func notFound(what string) error {
	return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
}

// blob returns b, or an empty slice for nil: pgx sends a nil []byte as
// NULL, and the store's byte columns are NOT NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// dedupe returns the distinct strings of s, in first-seen order.
func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// mustAffect returns an error matching storage.ErrNotFound about what if
// tag says no row changed.
func mustAffect(tag pgconn.CommandTag, what string) error {
	if tag.RowsAffected() == 0 {
		return notFound(what)
	}
	return nil
}

// collect reads every row of rows with scan and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
