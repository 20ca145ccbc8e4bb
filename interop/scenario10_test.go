package interop

import (
	"fmt"
	"strings"
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
// (the shared one must not go down under other tests).
//
//  1. Our server restarts (Close, then New on the same SQLite file and
//     port) between messages, three times; once with a message of ours
//     queued just before Close, once while Dendrite sends to us.
//  2. We send 50 messages one after another; Dendrite is stopped after
//     the 10th, our server restarts after the 25th (so what is queued for
//     Dendrite must survive it), and Dendrite is started again (same
//     config and databases) after the 35th. The Dendrite user sends a
//     message every fifth step while Dendrite is up.
//
// Then the Dendrite user's /sync and /messages hold each of our messages
// exactly once, and our OnMessage and Messages() hold each of theirs
// exactly once.
func TestScenario10_Restarts(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) { runScenario10(t, v) })
	}
}

func runScenario10(t *testing.T, version string) {
	d := startDendrite(t)
	o := startOurs(t)
	bob := d.register(t, "bob", false)
	c := ctx(t)
	roomID, err := o.srv.CreateRoom(c, homeserver.CreateRoomRequest{Creator: "alice", Name: "restarts", Version: version})
	if err != nil {
		t.Fatalf("our CreateRoom: %v", err)
	}
	r := &room{o: o, d: d, remote: bob, local: "alice", id: roomID}
	r.inviteRemote(t, bob, nil)
	r.remoteJoins(t, bob)

	tag := randomString(4)
	var ours, theirs []string // bodies sent by each side
	sendOurs := func(body string) {
		t.Helper()
		if _, err := o.srv.SendMessage(ctx(t), roomID, "alice", body); err != nil {
			t.Fatalf("our SendMessage %q: %v", body, err)
		}
		ours = append(ours, body)
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
	var dendriteDown time.Duration
	var downAt time.Time
	for i := range 50 {
		switch i {
		case 10:
			downAt = time.Now()
			d.stop()
			t.Logf("Dendrite stopped after our message %d (%s)", i, ms(time.Since(downAt)))
		case 25:
			o.restart()
			t.Logf("our server restarted after message %d, Dendrite down", i)
		case 35:
			if err := d.start(); err != nil {
				t.Fatalf("restart Dendrite: %v", err)
			}
			dendriteDown = time.Since(downAt)
			t.Logf("Dendrite started again after message %d; it was down %s, while we sent 25 messages", i, ms(dendriteDown))
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
		t.Errorf("our last message %q did not reach Dendrite within %s of the last send (%s)", last, waitTimeout, bob.sync.status())
	} else {
		t.Logf("phase 2: Dendrite's /sync showed our last message %s after it was sent", ms(time.Since(sent)))
	}
	for _, b := range theirs {
		if _, ok := o.waitMessage(roomID, b); !ok {
			t.Errorf("%q did not reach us", b)
		}
	}
	t.Logf("phase 2 took %s", ms(time.Since(phase2)))

	// Exactly once, on Dendrite: /sync and /messages.
	time.Sleep(500 * time.Millisecond) // let stragglers (duplicates) show
	syncCount := map[string]int{}
	syncIDs := map[string]map[string]bool{}
	for _, it := range bob.sync.feed.all() {
		if it.V.RoomID != roomID || it.V.Section != "join" || !it.V.Timeline || it.V.Event.Type != "m.room.message" {
			continue
		}
		body := it.V.Event.str("body")
		syncCount[body]++
		if syncIDs[body] == nil {
			syncIDs[body] = map[string]bool{}
		}
		syncIDs[body][it.V.Event.EventID] = true
	}
	evs, err := bob.messages(roomID, 500)
	if err != nil {
		t.Fatalf("Dendrite /messages: %v", err)
	}
	msgCount := map[string]int{}
	for _, e := range evs {
		if e.Type == "m.room.message" {
			msgCount[e.str("body")]++
		}
	}
	var bad []string
	for _, b := range ours {
		if syncCount[b] != 1 || msgCount[b] != 1 || len(syncIDs[b]) != 1 {
			bad = append(bad, fmt.Sprintf("%q: /sync %d times (%d event IDs), /messages %d times", b, syncCount[b], len(syncIDs[b]), msgCount[b]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("on Dendrite, %d of our %d messages are not there exactly once:\n%s", len(bad), len(ours), strings.Join(bad, "\n"))
	} else {
		t.Logf("Dendrite's /sync and /messages hold each of our %d messages exactly once", len(ours))
	}

	// Exactly once, on our side: OnMessage and Messages().
	hookCount := map[string]int{}
	hookIDs := map[string]map[string]bool{}
	for _, m := range o.messages.all() {
		if m.V.RoomID == roomID {
			hookCount[m.V.Body]++
			if hookIDs[m.V.Body] == nil {
				hookIDs[m.V.Body] = map[string]bool{}
			}
			hookIDs[m.V.Body][m.V.EventID] = true
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
}
