package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Durability: nothing is lost or delivered twice across restarts, downtime,
// a kill mid-queue, or a repeated /send.

// TestRestartLosesNothing restarts server B on the same SQLite file between
// two messages: what A sent while B was down arrives once, and both sides
// hold the same messages, none twice.
func TestRestartLosesNothing(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")

	send := func(p *peer, user, body string) {
		t.Helper()
		if _, err := p.srv.SendMessage(ctx, roomID, user, body); err != nil {
			t.Fatal(err)
		}
	}
	send(a, "alice", "m1")
	waitMessage(t, b.messages, "m1")

	b.stop()
	send(a, "alice", "m2 while b is down")
	send(a, "alice", "m3 while b is down")
	b.start()
	waitMessage(t, b.messages, "m2 while b is down")
	waitMessage(t, b.messages, "m3 while b is down")
	send(b, "bob", "m4 after restart")
	waitMessage(t, a.messages, "m4 after restart")

	want := []string{"m1", "m2 while b is down", "m3 while b is down", "m4 after restart"}
	for _, p := range []*peer{a, b} {
		msgs, err := p.srv.Messages(ctx, roomID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, m.Body)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s holds %q, want %q", p.name, got, want)
		}
	}
	select {
	case m := <-b.messages:
		t.Errorf("b was told of a message twice or unexpectedly: %+v", m)
	default:
	}
}

// TestQueueSurvivesSenderRestart queues messages for a server that is
// down, restarts the sending server, and checks each message arrives once
// after both are up: the send queue lives in the store.
func TestQueueSurvivesSenderRestart(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")

	b.stop()
	for i := range 60 { // more than one transaction's worth
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", fmt.Sprintf("queued %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	a.restart()
	b.start()
	for i := range 60 {
		waitMessage(t, b.messages, fmt.Sprintf("queued %d", i))
	}
	msgs, err := b.srv.Messages(ctx, roomID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 60 {
		t.Fatalf("b stored %d messages, want 60", len(msgs))
	}
	select {
	case m := <-b.messages:
		t.Fatalf("a message was delivered twice: %+v", m)
	default:
	}
}

// TestKillMidQueue kills the sending server while its queue is full and
// restarts it on the same file: every queued event arrives exactly once.
func TestKillMidQueue(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	const total = 150
	for i := range total {
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", fmt.Sprintf("m%03d", i)); err != nil {
			t.Fatal(err)
		}
		if i == 70 {
			a.crash()
			a.start()
		}
	}
	seen := map[string]int{}
	deadline := time.After(30 * time.Second)
	for len(seen) < total {
		select {
		case m := <-b.messages:
			seen[m.Body]++
		case <-deadline:
			t.Fatalf("b got %d of %d", len(seen), total)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for len(b.messages) > 0 {
		seen[(<-b.messages).Body]++
	}
	for body, k := range seen {
		if k != 1 {
			t.Errorf("%s delivered %d times", body, k)
		}
	}
	pending, err := a.srv.store.PendingDestinations(ctx)
	if err != nil || len(pending) != 0 {
		t.Errorf("a still has queued items for %v (%v)", pending, err)
	}
}

// TestCatchUpAfterDowntime: C is down while A and B talk for 200 messages;
// when C is back it gets all of them through the queues and gap filling,
// each once, in causal order.
func TestCatchUpAfterDowntime(t *testing.T) {
	a, b, c, roomID := threeServers(t, "10")
	ctx := context.Background()
	c.stop()
	for i := range 100 {
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", fmt.Sprintf("alice %03d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.srv.SendMessage(ctx, roomID, "bob", fmt.Sprintf("bob %03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.start()
	seen := map[string]int{}
	var order []string
	deadline := time.After(60 * time.Second)
	for len(seen) < 200 {
		select {
		case m := <-c.messages:
			seen[m.Body]++
			order = append(order, m.Body)
		case <-deadline:
			t.Fatalf("c got %d of 200 messages", len(seen))
		}
	}
	time.Sleep(200 * time.Millisecond)
	for len(c.messages) > 0 {
		m := <-c.messages
		seen[m.Body]++
	}
	for body, n := range seen {
		if n != 1 {
			t.Errorf("%q reached c's host %d times", body, n)
		}
	}
	// Each sender's messages reached the host in the order they were sent.
	last := map[string]string{}
	for _, body := range order {
		who := strings.Fields(body)[0]
		if body < last[who] {
			t.Fatalf("%q reached c's host after %q", body, last[who])
		}
		last[who] = body
	}
	eventually(t, "convergence", 30*time.Second, converged(t, roomID, 200, a, b, c))
}

// TestSendIsIdempotent: a repeated transaction (same ID, same body) gets
// the first answer and is not processed again; the same ID with another
// body (as Dendrite sends when it retries with more PDUs) is processed.
func TestSendIsIdempotent(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	ctx := context.Background()
	first := message(t, a, roomID, "first")
	second := message(t, a, roomID, "second")
	body := map[string]any{"origin": "hs-a.test", "origin_server_ts": 1, "pdus": []json.RawMessage{first.JSON()}}
	code1, r1 := craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/same-id", body, nil)
	// Between the two, the room moves on: reprocessing the first
	// transaction could not give the same answer bytes unless the stored
	// one is replayed, so check the store too.
	if !stored(t, b, first.EventID()) {
		t.Fatal("the first transaction was not processed")
	}
	code2, r2 := craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/same-id", body, nil)
	j1, _ := json.Marshal(r1)
	j2, _ := json.Marshal(r2)
	if code1 != 200 || code2 != 200 || string(j1) != string(j2) {
		t.Fatalf("repeat answered %d %s, first %d %s", code2, j2, code1, j1)
	}
	waitMessage(t, b.messages, "first")
	select {
	case m := <-b.messages:
		t.Fatalf("the repeat reached the host again: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
	// Same ID, more PDUs: the new one is taken in.
	body["pdus"] = []json.RawMessage{first.JSON(), second.JSON()}
	code3, r3 := craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/same-id", body, nil)
	if code3 != 200 || r3["pdus"].(map[string]any)[second.EventID()] == nil {
		t.Fatalf("retry with another body: %d %v", code3, r3)
	}
	if !stored(t, b, second.EventID()) {
		t.Fatal("a PDU added to a retried transaction was lost")
	}
	waitMessage(t, b.messages, "second")
	_ = ctx
}
