package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
)

// hostDB is chatd's own SQLite file: what a chat backend keeps whether or
// not it federates. Its users, the rooms they made or joined (with the
// kind chatd gave them), and the message log its UI shows, written by
// chatd when its users speak and by Hooks.OnMessage when others do. The
// homeserver keeps its own store next to it; chatd never reads that.
type hostDB struct {
	db *sql.DB
}

// schema is applied when the file is new (PRAGMA user_version 0).
const schema = `
CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	created_ts INTEGER NOT NULL
);
CREATE TABLE rooms (
	room_id    TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	added_by   TEXT NOT NULL,
	added_ts   INTEGER NOT NULL
);
CREATE TABLE messages (
	event_id   TEXT PRIMARY KEY,
	room_id    TEXT NOT NULL,
	sender     TEXT NOT NULL,
	body       TEXT NOT NULL,
	ts         INTEGER NOT NULL
);
CREATE INDEX messages_by_room ON messages (room_id, ts);
PRAGMA user_version = 1;
`

func openHostDB(ctx context.Context, path string) (*hostDB, error) {
	dsn := "file:" + url.PathEscape(path) + "?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if version == 0 {
		if _, err := db.ExecContext(ctx, schema); err != nil {
			db.Close()
			return nil, fmt.Errorf("create schema in %s: %w", path, err)
		}
	}
	return &hostDB{db: db}, nil
}

func (h *hostDB) close() error { return h.db.Close() }

func (h *hostDB) addUser(ctx context.Context, name string) error {
	_, err := h.db.ExecContext(ctx, "INSERT OR IGNORE INTO users (name, created_ts) VALUES (?, ?)", name, time.Now().UnixMilli())
	return err
}

// users returns the local user names, sorted.
func (h *hostDB) users(ctx context.Context) ([]string, error) {
	rows, err := h.db.QueryContext(ctx, "SELECT name FROM users ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (h *hostDB) hasUser(ctx context.Context, name string) (bool, error) {
	var n int
	err := h.db.QueryRowContext(ctx, "SELECT 1 FROM users WHERE name = ?", name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// addRoom records a room a local user made or joined.
func (h *hostDB) addRoom(ctx context.Context, roomID, kind, by string) error {
	_, err := h.db.ExecContext(ctx, "INSERT OR IGNORE INTO rooms (room_id, kind, added_by, added_ts) VALUES (?, ?, ?, ?)",
		roomID, kind, by, time.Now().UnixMilli())
	return err
}

// message is one line of a room's log.
type message struct {
	EventID string
	RoomID  string
	Sender  string
	Body    string
	TS      int64 // milliseconds since the epoch
}

// putMessage adds a message to the log; one already there is kept.
func (h *hostDB) putMessage(ctx context.Context, m message) error {
	_, err := h.db.ExecContext(ctx, "INSERT OR IGNORE INTO messages (event_id, room_id, sender, body, ts) VALUES (?, ?, ?, ?, ?)",
		m.EventID, m.RoomID, m.Sender, m.Body, m.TS)
	return err
}

// scrubMessage forgets the text of a deleted message; its line stays so
// the log still shows that something was said and deleted.
func (h *hostDB) scrubMessage(ctx context.Context, roomID, eventID string) error {
	_, err := h.db.ExecContext(ctx, "UPDATE messages SET body = '' WHERE room_id = ? AND event_id = ?", roomID, eventID)
	return err
}

// messages returns the newest limit messages of a room, oldest first.
func (h *hostDB) messages(ctx context.Context, roomID string, limit int) ([]message, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT event_id, room_id, sender, body, ts FROM (
		SELECT event_id, room_id, sender, body, ts, rowid AS r FROM messages WHERE room_id = ? ORDER BY ts DESC, rowid DESC LIMIT ?
	) ORDER BY ts, r`, roomID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []message
	for rows.Next() {
		var m message
		if err := rows.Scan(&m.EventID, &m.RoomID, &m.Sender, &m.Body, &m.TS); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// roomsAdded returns when each recorded room was made or joined here.
func (h *hostDB) roomsAdded(ctx context.Context) (map[string]int64, error) {
	rows, err := h.db.QueryContext(ctx, "SELECT room_id, added_ts FROM rooms")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var ts int64
		if err := rows.Scan(&id, &ts); err != nil {
			return nil, err
		}
		out[id] = ts
	}
	return out, rows.Err()
}
