// Package postgres is the scale-out storage.Store: one PostgreSQL database,
// reached through github.com/jackc/pgx/v5 (pgxpool), that several
// processes on several machines may share.
//
// The package owns that database's tables: the schema, the ordered
// migrations that bring an older database up to date at Open, and every
// query the store runs. Like storage/sqlite it never parses event JSON or
// queue payloads; it stores the bytes it is given next to the copied fields
// it queries on. It imports no package of the module but storage and
// media (its MediaStore is a media.Store).
//
// # Migrations
//
// Open applies the missing steps of the schema's history in one
// transaction that first takes a transaction-level advisory lock, so
// several processes may Open the same database at once: one migrates, the
// others wait and then find nothing to do. The schema_migrations table
// records each applied step; a database that a newer build has migrated
// past what this one knows is refused with ErrSchemaTooNew.
//
// # Concurrency
//
// Every write method is one READ COMMITTED transaction. Writes that must
// not interleave take transaction-level advisory locks, always in the same
// order, before they read anything they depend on:
//
//   - WriteRoom locks each room it touches (sorted), so the forward
//     extremities, current state and stream positions of a room are
//     changed by one writer at a time, whatever process it runs in. A
//     room's events get their StreamPos while its lock is held, so within a
//     room stream order is commit order and a reader paging with
//     RoomEvents never skips an event that commits late.
//   - NextTransaction and CompleteTransaction lock the destination, so a
//     destination has at most one open outbound transaction and its ID and
//     content are fixed until it is completed.
//
// A WriteRoom's Redact entries update their events' rows in place; the row
// locks of those updates order them against any other writer of the same
// event, and a parked event or outlier rewritten after its redaction keeps
// the redacted JSON (decided on the row as the UPDATE finds it). The
// queued copies of a redacted event that are not yet in a transaction get
// the redacted JSON under the locks of their destinations, taken after any
// room locks, so NextTransaction sees each copy either before or after the
// redaction, never half-way.
//
// Unique keys and upserts (INSERT ... ON CONFLICT) make the other writes
// safe without locks. A transaction that fails on a deadlock or a
// serialization error is retried a few times before the error is returned.
//
// # Strings
//
// Every string the store is given is kept as BYTEA, not TEXT: those
// strings come from other servers, and PostgreSQL text can hold neither
// U+0000 nor bytes that are not UTF-8, which a peer can put in a signed
// event. bytea stores any bytes and compares them byte by byte, as
// storage/sqlite does, so both stores accept the same strings and return
// them in the same order, whatever the database's collation. (psql shows
// these columns in hex; convert_from(column, 'UTF8') reads them.)
package postgres
