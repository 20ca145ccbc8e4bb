package homeserver

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/tidwall/gjson"
)

// A deleted message never leaves the send queue whole: the redaction
// reaches the queued copy that was not sent yet.

// sentLog records the payloads a Server's send queue hands out, by
// destination: pass withStore(l.wrap) to a peer.
type sentLog struct {
	mu   sync.Mutex
	pdus map[string][]string // destination -> every PDU of every NextTransaction
}

func (l *sentLog) wrap(st storage.Store) storage.Store { return sentLogStore{Store: st, l: l} }

// handedOut returns the PDUs handed out for dest so far, retries included.
func (l *sentLog) handedOut(dest string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.pdus[dest]...)
}

type sentLogStore struct {
	storage.Store
	l *sentLog
}

func (s sentLogStore) NextTransaction(ctx context.Context, dest string, maxPDUs, maxEDUs int) (storage.Transaction, error) {
	txn, err := s.Store.NextTransaction(ctx, dest, maxPDUs, maxEDUs)
	if err == nil {
		s.l.mu.Lock()
		if s.l.pdus == nil {
			s.l.pdus = map[string][]string{}
		}
		for _, p := range txn.PDUs {
			s.l.pdus[dest] = append(s.l.pdus[dest], string(p))
		}
		s.l.mu.Unlock()
	}
	return txn, err
}

// writeLog records every event JSON a Server writes to its store, as
// given to WriteRoom (events and redacted forms): pass withStore(l.wrap).
type writeLog struct {
	mu     sync.Mutex
	events map[string][]string // event ID -> every JSON written for it
}

func (l *writeLog) wrap(st storage.Store) storage.Store { return writeLogStore{Store: st, l: l} }

// written returns every JSON written for eventID so far.
func (l *writeLog) written(eventID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events[eventID]...)
}

type writeLogStore struct {
	storage.Store
	l *writeLog
}

func (s writeLogStore) WriteRoom(ctx context.Context, w storage.RoomWrite) ([]int64, error) {
	s.l.mu.Lock()
	if s.l.events == nil {
		s.l.events = map[string][]string{}
	}
	for _, u := range w.Events {
		s.l.events[u.Event.EventID] = append(s.l.events[u.Event.EventID], string(u.Event.JSON))
	}
	for _, r := range w.Redact {
		s.l.events[r.EventID] = append(s.l.events[r.EventID], string(r.JSON))
	}
	s.l.mu.Unlock()
	return s.Store.WriteRoom(ctx, w)
}

// queued reads, without the store and without touching it, the payloads
// of the items of kind p has queued for dest, in or out of a transaction;
// kind "" means PDUs and EDUs.
func queued(t *testing.T, p *peer, dest, kind string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(p.dbPath)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(),
		`SELECT payload FROM outbound_queue WHERE destination = ? AND ? IN ('', kind) ORDER BY item_id`, dest, kind)
	if err != nil {
		t.Fatalf("read %s's queue: %v", p.name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(payload))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// containing returns the strings of ss that contain sub.
func containing(ss []string, sub string) []string {
	var out []string
	for _, s := range ss {
		if strings.Contains(s, sub) {
			out = append(out, s)
		}
	}
	return out
}

// deletedText is the deleted body as it appears in the event's JSON.
const deletedText = `"secret"`

// TestDeletedWhileDestinationDown: b is down; alice on a sends "secret"
// and deletes it; b comes back. b receives the message redacted, never
// whole, as Synapse sends what the event is at send time.
func TestDeletedWhileDestinationDown(t *testing.T) {
	n := newNetwork()
	sent, writes := &sentLog{}, &writeLog{}
	a := newPeer(t, n, "hs-a.test", withStore(sent.wrap))
	b := newPeer(t, n, "hs-b.test", withStore(writes.wrap))
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	say(t, a, b, roomID, "alice", "hello")
	eventually(t, "b acknowledged everything", 10*time.Second, func() error {
		if q := queued(t, a, b.name, ""); len(q) != 0 {
			return fmt.Errorf("a's queue to b holds %q", q)
		}
		return nil
	})

	b.stop()
	// The first message while b is down goes in a's open transaction to
	// b, resent as it is until b acknowledges it; what follows waits
	// outside any transaction.
	if _, err := a.srv.SendMessage(ctx, roomID, "alice", "before the secret"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's transaction to b holds the first message", 10*time.Second, func() error {
		if len(containing(sent.handedOut(b.name), `"before the secret"`)) == 0 {
			return fmt.Errorf("not handed out yet: %q", sent.handedOut(b.name))
		}
		return nil
	})
	secret, err := a.srv.SendMessage(ctx, roomID, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	red, err := a.srv.Redact(ctx, roomID, "alice", secret, "oops")
	if err != nil {
		t.Fatal(err)
	}

	// Before b restarts: a's queue holds secret's PDU once, redacted, and
	// the deleted text nowhere.
	queue := queued(t, a, b.name, storage.KindPDU)
	var redactedCopies int
	for _, p := range queue {
		// redacted_because is the redaction, which names its target.
		because := gjson.Get(p, "unsigned.redacted_because")
		if because.Get("redacts").Str == secret || because.Get("content.redacts").Str == secret {
			redactedCopies++
		}
	}
	if got := containing(queue, deletedText); len(got) != 0 || redactedCopies != 1 {
		t.Fatalf("a's queue to b: %d redacted copies of %s, the deleted text in %q; queue %q", redactedCopies, secret, got, queue)
	}
	if got := containing(sent.handedOut(b.name), deletedText); len(got) != 0 {
		t.Fatalf("a handed out the deleted text to b: %q", got)
	}

	b.start()
	// bob's message makes a stop backing off from b.
	say(t, b, a, roomID, "bob", "back")
	waitMessage(t, b.messages, "before the secret")
	ev := redacted(t, b, secret, red)
	if ev.Status != storage.StatusAccepted || strings.Contains(string(ev.JSON), deletedText) {
		t.Fatalf("b stores %s as %v: %s", secret, ev.Status, ev.JSON)
	}
	js := writes.written(secret)
	if len(js) == 0 {
		t.Fatalf("b never wrote %s", secret)
	}
	if got := containing(js, deletedText); len(got) != 0 {
		t.Fatalf("b's store was given the deleted text: %q", got)
	}
	if got := containing(sent.handedOut(b.name), deletedText); len(got) != 0 {
		t.Fatalf("a sent the deleted text to b: %q", got)
	}
	m, err := b.srv.Message(ctx, roomID, secret)
	if err != nil || !m.Deleted || m.Body != "" {
		t.Fatalf("b reads the deleted message as %+v, %v", m, err)
	}
	for {
		select {
		case m := <-b.messages:
			if m.Body == "secret" {
				t.Fatalf("b's host was told the deleted text: %+v", m)
			}
		default:
			return
		}
	}
}
