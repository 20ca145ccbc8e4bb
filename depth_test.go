package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// threeServers puts alice (A), bob (B) and carol (C) in one room on A.
func threeServers(t *testing.T, version string) (a, b, c *peer, roomID string) {
	t.Helper()
	n := newNetwork()
	a = startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b = startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	c = startPeer(t, n, "hs-c.test", dbPath(t, "c"))
	roomID = sharedRoom(t, a, b, version)
	ctx := context.Background()
	if err := a.srv.Invite(ctx, roomID, "alice", c.userID("carol")); err != nil {
		t.Fatal(err)
	}
	waitInvite(t, c.invites, roomID)
	if err := c.srv.AcceptInvite(ctx, roomID, "carol"); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, b.memberships, c.userID("carol"), "join")
	return a, b, c, roomID
}

// sendState sends a state event as a local user through the rooms engine.
func sendState(t *testing.T, p *peer, roomID, user, typ, stateKey string, content any) string {
	t.Helper()
	sk := stateKey
	ev, err := p.srv.rooms.Send(context.Background(), roomID, p.userID(user), typ, &sk, content)
	if err != nil {
		t.Fatalf("%s sends %s: %v", user, typ, err)
	}
	return ev.EventID()
}

// roomSummary is what must agree across servers once they converge.
func roomSummary(t *testing.T, p *peer, roomID string) (state string, messages []string) {
	t.Helper()
	ctx := context.Background()
	cur, err := p.srv.store.CurrentState(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	var st []string
	for _, e := range cur {
		st = append(st, e.Type+"|"+*e.StateKey+"|"+e.EventID)
	}
	sort.Strings(st)
	evs, err := p.srv.store.RoomEvents(ctx, roomID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == "m.room.message" {
			messages = append(messages, e.EventID)
		}
	}
	sort.Strings(messages)
	return strings.Join(st, "\n"), messages
}

// eventually retries check until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func converged(t *testing.T, roomID string, wantMessages int, peers ...*peer) func() error {
	return func() error {
		s0, m0 := roomSummary(t, peers[0], roomID)
		if len(m0) != wantMessages {
			return fmt.Errorf("%s has %d messages, want %d", peers[0].name, len(m0), wantMessages)
		}
		for _, p := range peers[1:] {
			s, m := roomSummary(t, p, roomID)
			if s != s0 {
				return fmt.Errorf("%s and %s disagree on the state:\n%s\n--\n%s", peers[0].name, p.name, s0, s)
			}
			if !slices.Equal(m, m0) {
				return fmt.Errorf("%s has %d messages, %s has %d", p.name, len(m), peers[0].name, len(m0))
			}
		}
		return nil
	}
}

// TestForkConverges makes A and B send at the same time, state included,
// so the room forks; all three servers end with the same state and events.
func TestForkConverges(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b, c, roomID := threeServers(t, version)
			ctx := context.Background()
			// bob may set the topic too, so the fork has a state conflict.
			pl := map[string]any{"users": map[string]int{a.userID("alice"): 100, b.userID("bob"): 50}, "state_default": 50, "events": map[string]int{"m.room.topic": 50}}
			if version == "12" {
				pl["users"] = map[string]int{b.userID("bob"): 50}
			}
			sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl)
			eventually(t, "bob gets power", waitFor, func() error {
				_, err := b.srv.store.StateEvent(ctx, roomID, "m.room.power_levels", "")
				if err != nil {
					return err
				}
				cur, _ := b.srv.store.StateEvent(ctx, roomID, "m.room.power_levels", "")
				if !strings.Contains(string(cur.JSON), "hs-b.test\":50") {
					return fmt.Errorf("not yet")
				}
				return nil
			})

			var wg sync.WaitGroup
			for _, p := range []struct {
				peer *peer
				user string
			}{{a, "alice"}, {b, "bob"}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 10 {
						if i == 5 {
							sk := ""
							if _, err := p.peer.srv.rooms.Send(ctx, roomID, p.peer.userID(p.user), "m.room.topic", &sk, map[string]string{"topic": "set by " + p.user}); err != nil {
								t.Error(err)
							}
						}
						if _, err := p.peer.srv.SendMessage(ctx, roomID, p.user, fmt.Sprintf("%s %d", p.user, i)); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			eventually(t, "all messages everywhere", waitFor, func() error {
				for _, p := range []*peer{a, b, c} {
					if _, m := roomSummary(t, p, roomID); len(m) != 20 {
						return fmt.Errorf("%s has %d of 20", p.name, len(m))
					}
				}
				return nil
			})
			// One more message from each server merges whatever forks remain.
			for _, p := range []struct {
				peer *peer
				user string
			}{{a, "alice"}, {b, "bob"}, {c, "carol"}} {
				if _, err := p.peer.srv.SendMessage(ctx, roomID, p.user, "merge from "+p.user); err != nil {
					t.Fatal(err)
				}
				for _, q := range []*peer{a, b, c} {
					if q != p.peer {
						waitMessage(t, q.messages, "merge from "+p.user)
					}
				}
			}
			eventually(t, "convergence", waitFor, converged(t, roomID, 23, a, b, c))
		})
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

// crash stops a peer without flushing anything: the send queue is cut off
// mid-flight and queued hooks are dropped, as if the process were killed.
func (p *peer) crash() {
	p.net.mu.Lock()
	delete(p.net.addrs, p.name)
	p.net.mu.Unlock()
	_ = p.http.Close()
	p.srv.sender.Close()
	_ = p.srv.store.Close()
	p.srv = nil
}

// TestKillMidQueue kills the sending server while its queue is full and
// restarts it on the same file: every queued event arrives exactly once.
func TestKillMidQueue(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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

// TestSendIsIdempotent: a repeated transaction (same ID, same body) gets
// the first answer and is not processed again; the same ID with another
// body (as Dendrite sends when it retries with more PDUs) is processed.
func TestSendIsIdempotent(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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

// TestHostilePDUs: each gets the right answer and the room stays intact.
func TestHostilePDUs(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	roomID := sharedRoom(t, a, b, "10")
	ctx := context.Background()
	before, _ := roomSummary(t, b, roomID)
	v := gomatrixserverlib.MustGetRoomVersion("10")
	id := a.srv.identity
	good := message(t, a, roomID, "template")
	build := func(mod func(p *gomatrixserverlib.ProtoEvent)) gomatrixserverlib.PDU {
		t.Helper()
		content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": "hostile"})
		proto := gomatrixserverlib.ProtoEvent{SenderID: a.userID("alice"), RoomID: roomID, Type: "m.room.message",
			PrevEvents: good.PrevEventIDs(), AuthEvents: good.AuthEventIDs(), Depth: good.Depth(), Content: content}
		mod(&proto)
		ev, err := v.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), id.ServerName, id.KeyID, id.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	unknown := make([]string, 1000)
	for i := range unknown {
		unknown[i] = fmt.Sprintf("$unknown%04d", i)
	}
	manyPrevs := build(func(p *gomatrixserverlib.ProtoEvent) { p.PrevEvents = unknown })
	shortKey := "k"
	topic := build(func(p *gomatrixserverlib.ProtoEvent) { p.Type = "m.room.topic"; p.StateKey = &shortKey })
	// gomatrixserverlib will not build it, so lengthen the key by hand.
	oversized := strings.Replace(string(topic.JSON()), `"state_key":"k"`, `"state_key":"`+strings.Repeat("k", 300)+`"`, 1)

	// A float is not canonical JSON in v10: sign a valid event, then put a
	// float in its content (the signature no longer matters: it must be
	// refused as bad JSON before anything else).
	floatJSON := strings.Replace(string(good.JSON()), `"depth":`+fmt.Sprint(good.Depth()), `"depth":`+fmt.Sprint(good.Depth())+`.5`, 1)

	// An event citing a rejected auth event: bob (power 0) tries to change
	// the power levels; that is rejected; then an event cites it.
	sk := ""
	plContent, _ := json.Marshal(map[string]any{"users": map[string]int{b.userID("bob"): 100}})
	forgedPL, err := gomatrixserverlib.MustGetRoomVersion("10").NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: b.userID("bob"), RoomID: roomID, Type: "m.room.power_levels", StateKey: &sk,
		PrevEvents: good.PrevEventIDs(), AuthEvents: good.AuthEventIDs(), Depth: good.Depth(), Content: plContent,
	}).Build(time.Now(), b.srv.identity.ServerName, b.srv.identity.KeyID, b.srv.identity.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.srv.client.SendTransaction(ctx, "hs-a.test", "rejected-pl", [][]byte{forgedPL.JSON()}, nil)
	if err != nil || res.PDUs[forgedPL.EventID()].Error == "" {
		t.Fatalf("a did not refuse bob's power grab: %+v %v", res, err)
	}
	citing := build(func(p *gomatrixserverlib.ProtoEvent) {
		p.SenderID = a.userID("alice")
		p.AuthEvents = append(slices.Clone(good.AuthEventIDs()), forgedPL.EventID())
	})
	// a stored the power grab as rejected; send the citing event to a.
	res, err = b.srv.client.SendTransaction(ctx, "hs-a.test", "cites-rejected", [][]byte{citing.JSON()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.PDUs[citing.EventID()]; !ok || r.Error == "" {
		t.Errorf("an event citing a rejected auth event was not refused: %+v", res.PDUs)
	}
	if ev, err := a.srv.store.Event(ctx, citing.EventID()); err == nil && ev.Status == storage.StatusAccepted {
		t.Error("an event citing a rejected auth event was stored as accepted")
	}

	cases := map[string][]byte{
		"1000 unknown prev_events": manyPrevs.JSON(),
		"oversized state_key":      []byte(oversized),
		"float in a v10 room":      []byte(floatJSON),
	}
	countEvents := func() int {
		evs, err := b.srv.store.RoomEvents(ctx, roomID, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			n := countEvents()
			res, err := a.srv.client.SendTransaction(ctx, "hs-b.test", "hostile-"+strings.ReplaceAll(name, " ", "-"), [][]byte{raw}, nil)
			if err != nil {
				t.Fatalf("/send must answer 200: %v", err)
			}
			for id, r := range res.PDUs {
				if r.Error == "" {
					t.Fatalf("%s accepted: %+v", id, r)
				}
				if stored(t, b, id) {
					ev, _ := b.srv.store.Event(ctx, id)
					if ev.Status == storage.StatusAccepted {
						t.Fatalf("%s stored as accepted", id)
					}
				}
			}
			if countEvents() != n {
				t.Fatal("the room gained an event")
			}
		})
	}
	after, _ := roomSummary(t, b, roomID)
	if after != before {
		t.Fatalf("hostile PDUs changed b's room state:\n%s\n--\n%s", before, after)
	}
	if _, err := a.srv.SendMessage(ctx, roomID, "alice", "still fine"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, b.messages, "still fine")
}

var _ = spec.Join
