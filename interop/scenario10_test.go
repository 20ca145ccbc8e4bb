package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// restart closes our Server and its store and starts a new one on the
// same SQLite file and the same port (the hook feeds are kept).
func (o *ours) restart() {
	o.t.Helper()
	o.stop()
	o.start()
}

// TestScenario10_Restarts: both servers restart mid-conversation and
// everything arrives exactly once on both sides. It runs its own Dendrite
// (the shared one must not go down under other tests); our server reaches
// it through the recording proxy.
//
//  1. Our server restarts (a graceful Close, then New on the same SQLite
//     file and port) between messages, three times; once with a message
//     of ours queued just before Close, once while Dendrite sends to us.
//  2. We send 50 messages one after another. After the 10th has shown up
//     in the Dendrite user's /sync, Dendrite is stopped; our server
//     restarts after the 25th (what is queued for Dendrite must survive
//     it); Dendrite is started again (same config and databases) after
//     the 35th. The Dendrite user sends a message every fifth step while
//     Dendrite is up.
//
// Then, on Dendrite's side: each of our events was acknowledged in
// exactly one /send transaction (the proxy's record), and the Dendrite
// user's /messages and /sync hold it under its one event ID. On ours: each
// of Dendrite's messages came through OnMessage exactly once, and
// Messages() holds every message exactly once. How often Dendrite's
// /sync and /messages list an event is reported, not asserted: after its
// restart Dendrite v0.15.2 sometimes lists an event twice in /messages or
// leaves one out of an incremental /sync (its own bookkeeping; the
// event was delivered and acknowledged once).
func TestScenario10_Restarts(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) { runScenario10(t, v) })
	}
}

func runScenario10(t *testing.T, version string) {
	d := startDendrite(t)
	p := startFedProxy(t, d)
	var inMu sync.Mutex
	var inbound []string // Dendrite's requests to us
	o := startOurs(t, withRoute(d.name, p.addr), withInboundWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inMu.Lock()
			inbound = append(inbound, r.Method+" "+r.URL.Path)
			inMu.Unlock()
			next.ServeHTTP(w, r)
		})
	}))
	bob := d.register(t, "bob", false)
	c := ctx(t)
	roomID, err := o.srv.CreateRoom(c, homeserver.CreateRoomRequest{Creator: "alice", Name: "restarts", Version: version})
	if err != nil {
		t.Fatalf("our CreateRoom: %v", err)
	}
	r := &room{o: o, d: d, p: p, remote: bob, local: "alice", id: roomID}
	r.inviteRemote(t, bob, nil)
	r.remoteJoins(t, bob)

	tag := randomString(4)
	var ours, theirs []string     // bodies sent by each side
	ourIDs := map[string]string{} // our body -> event ID
	sendOurs := func(body string) {
		t.Helper()
		id, err := o.srv.SendMessage(ctx(t), roomID, "alice", body)
		if err != nil {
			t.Fatalf("our SendMessage %q: %v", body, err)
		}
		ours = append(ours, body)
		ourIDs[body] = id
	}
	sendTheirs := func(body string) {
		t.Helper()
		if _, err := bob.sendText(roomID, body); err != nil {
			t.Fatalf("Dendrite send %q: %v", body, err)
		}
		theirs = append(theirs, body)
	}

	// 1. Our restarts between messages.
	phase1 := time.Now()
	for i := range 3 {
		a, b := fmt.Sprintf("p1 ours %d %s", i, tag), fmt.Sprintf("p1 dendrite %d %s", i, tag)
		sendOurs(a)
		sendTheirs(b)
		if _, ok := bob.waitTimeline(roomID, isMessage(a)); !ok {
			t.Fatalf("%q did not reach Dendrite", a)
		}
		if _, ok := o.waitMessage(roomID, b); !ok {
			t.Fatalf("%q did not reach us", b)
		}
		o.restart()
	}
	// A message of ours queued right before Close.
	queued := "p1 queued before close " + tag
	sendOurs(queued)
	o.restart()
	// A message from Dendrite while we are down.
	o.stop()
	whileDown := "p1 dendrite while ours is down " + tag
	downSent := time.Now()
	sendTheirs(whileDown)
	time.Sleep(200 * time.Millisecond)
	o.start()
	if _, ok := bob.waitTimeline(roomID, isMessage(queued)); !ok {
		t.Fatalf("%q (queued before our Close) did not reach Dendrite after the restart", queued)
	}
	if m, ok := o.waitMessage(roomID, whileDown); !ok {
		t.Fatalf("%q (sent while we were down) did not reach us after the restart", whileDown)
	} else {
		t.Logf("the message Dendrite sent while we were down (200 ms) arrived %s after it was sent (Dendrite's retry backoff)", ms(m.At.Sub(downSent)))
	}
	t.Logf("phase 1 (our restarts between messages) took %s", ms(time.Since(phase1)))

	// 2. 50 messages; Dendrite stopped and started, our server restarted
	// while it is down.
	phase2 := time.Now()
	var downAt time.Time
	for i := range 50 {
		switch i {
		case 10:
			// Stop Dendrite once it has shown what it got: a Dendrite
			// stopped mid-processing mislists events afterwards (see the
			// test's doc).
			if _, ok := bob.waitTimeline(roomID, isMessage(ours[len(ours)-1])); !ok {
				t.Fatalf("%q did not reach Dendrite", ours[len(ours)-1])
			}
			downAt = time.Now()
			bob.sync.pause() // see syncer.pause: Dendrite's /sync at shutdown can skip events
			d.stop()
			t.Logf("Dendrite stopped after our message %d (%s)", i, ms(time.Since(downAt)))
		case 25:
			o.restart()
			t.Logf("our server restarted after message %d, Dendrite down", i)
		case 35:
			if err := d.start(); err != nil {
				t.Fatalf("restart Dendrite: %v", err)
			}
			bob.sync.resume()
			t.Logf("Dendrite started again after message %d; it was down %s, while we sent 25 messages", i, ms(time.Since(downAt)))
		}
		sendOurs(fmt.Sprintf("p2 ours %02d %s", i, tag))
		if i%5 == 0 && (i < 10 || i >= 35) {
			sendTheirs(fmt.Sprintf("p2 dendrite %02d %s", i, tag))
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := time.Now()
	last := ours[len(ours)-1]
	if _, ok := bob.waitTimeline(roomID, isMessage(last)); !ok {
		t.Errorf("our last message %q did not reach Dendrite's /sync within %s of the last send (%s)", last, waitTimeout, bob.sync.status())
	} else {
		t.Logf("phase 2: Dendrite's /sync showed our last message %s after it was sent", ms(time.Since(sent)))
	}
	for _, b := range theirs {
		if _, ok := o.waitMessage(roomID, b); !ok {
			t.Errorf("%q did not reach us", b)
		}
	}
	t.Logf("phase 2 took %s", ms(time.Since(phase2)))
	time.Sleep(500 * time.Millisecond) // let stragglers (duplicates) show

	// Delivered to Dendrite exactly once: acknowledged in one transaction
	// (a retry of the same transaction ID is the same transaction).
	acks := map[string]map[string]bool{} // event ID -> acknowledging txn IDs
	refused := map[string]string{}
	failed := 0
	for _, rec := range p.sendRecords() {
		if rec.Status != http.StatusOK {
			failed++
			continue
		}
		var res struct {
			PDUs map[string]struct {
				Error string `json:"error"`
			} `json:"pdus"`
		}
		_ = json.Unmarshal(rec.Response, &res)
		for id, r := range res.PDUs {
			if acks[id] == nil {
				acks[id] = map[string]bool{}
			}
			acks[id][rec.Path] = true
			if r.Error != "" {
				refused[id] = r.Error
			}
		}
	}
	var bad []string
	for _, b := range ours {
		id := ourIDs[b]
		if len(acks[id]) != 1 || refused[id] != "" {
			bad = append(bad, fmt.Sprintf("%q (%s): acknowledged in transactions %v, error %q", b, id, keys(acks[id]), refused[id]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of our %d messages were not acknowledged by Dendrite exactly once:\n%s", len(bad), len(ours), strings.Join(bad, "\n"))
	} else {
		t.Logf("each of our %d messages was acknowledged by Dendrite in exactly one /send (%d attempts failed while it was down)", len(ours), failed)
	}

	// What the Dendrite user sees: every message, under its one event ID.
	syncCount, syncIDs := map[string]int{}, map[string]map[string]bool{}
	for _, it := range bob.sync.feed.all() {
		if it.V.RoomID != roomID || it.V.Section != "join" || !it.V.Timeline || it.V.Event.Type != "m.room.message" {
			continue
		}
		count(syncCount, syncIDs, it.V.Event.str("body"), it.V.Event.EventID)
	}
	evs, err := bob.messages(roomID, 500)
	if err != nil {
		t.Fatalf("Dendrite /messages: %v", err)
	}
	msgCount, msgIDs := map[string]int{}, map[string]map[string]bool{}
	for _, e := range evs {
		if e.Type == "m.room.message" {
			count(msgCount, msgIDs, e.str("body"), e.EventID)
		}
	}
	bad = nil
	var odd []string
	for _, b := range ours {
		id := ourIDs[b]
		if msgCount[b] == 0 || len(msgIDs[b]) != 1 || !msgIDs[b][id] || len(syncIDs[b]) > 1 || syncCount[b] > 0 && !syncIDs[b][id] {
			bad = append(bad, fmt.Sprintf("%q: /messages %d times as %v, /sync %d times as %v; we sent %s", b, msgCount[b], keys(msgIDs[b]), syncCount[b], keys(syncIDs[b]), id))
		} else if msgCount[b] != 1 || syncCount[b] != 1 {
			odd = append(odd, fmt.Sprintf("%q: /messages %d times, /sync %d times", b, msgCount[b], syncCount[b]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("the Dendrite user does not see %d of our %d messages as the one event we sent:\n%s", len(bad), len(ours), strings.Join(bad, "\n"))
	}
	if len(odd) > 0 {
		t.Logf("REPORT: Dendrite lists %d of our %d messages other than once (one event each; %s):\n%s", len(odd), len(ours), bob.sync.status(), strings.Join(odd, "\n"))
	} else if len(bad) == 0 {
		t.Logf("Dendrite's /sync and /messages list each of our %d messages exactly once", len(ours))
	}

	// Exactly once, on our side: OnMessage and Messages().
	hookCount, hookIDs := map[string]int{}, map[string]map[string]bool{}
	for _, m := range o.messages.all() {
		if m.V.RoomID == roomID {
			count(hookCount, hookIDs, m.V.Body, m.V.EventID)
		}
	}
	msgs, err := o.srv.Messages(c, roomID, 0, 1000)
	if err != nil {
		t.Fatalf("our Messages: %v", err)
	}
	storeCount := map[string]int{}
	for _, m := range msgs {
		storeCount[m.Body]++
	}
	bad = nil
	for _, b := range theirs {
		if hookCount[b] != 1 || storeCount[b] != 1 || len(hookIDs[b]) != 1 {
			bad = append(bad, fmt.Sprintf("%q: OnMessage %d times (%d event IDs), Messages() %d times", b, hookCount[b], len(hookIDs[b]), storeCount[b]))
		}
	}
	for _, b := range ours {
		if storeCount[b] != 1 {
			bad = append(bad, fmt.Sprintf("our own %q: Messages() %d times", b, storeCount[b]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("on our side, messages not there exactly once:\n%s", strings.Join(bad, "\n"))
	} else {
		t.Logf("our OnMessage and Messages() hold each of Dendrite's %d messages exactly once (and Messages() each of our %d)", len(theirs), len(ours))
	}
	if t.Failed() {
		inMu.Lock()
		t.Logf("Dendrite's requests to us: %v", inbound)
		inMu.Unlock()
	}
}

// count adds one sighting of an event under its body.
func count(n map[string]int, ids map[string]map[string]bool, body, id string) {
	n[body]++
	if ids[body] == nil {
		ids[body] = map[string]bool{}
	}
	ids[body][id] = true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
