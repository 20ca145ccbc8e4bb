package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Convergence: servers that fork the room, or receive events before their
// prev events, end with the same room.

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

// TestParkedEventRecheckedWhenPrevArrives: an event whose prev event
// cannot be fetched (its origin is unreachable) is parked, not accepted;
// when the prev event arrives, both are taken in, in order.
func TestParkedEventRecheckedWhenPrevArrives(t *testing.T) {
	a, b := twoPeers(t)
	n := a.net
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	// A stops talking to B; A's events pile up in its queue.
	a.srv.sender.Close()
	first, err := a.srv.SendMessage(ctx, roomID, "alice", "first")
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.srv.SendMessage(ctx, roomID, "alice", "second")
	if err != nil {
		t.Fatal(err)
	}
	firstEv, _ := a.srv.store.Event(ctx, first)
	secondEv, _ := a.srv.store.Event(ctx, second)
	// A is unreachable for gap filling while B receives only the second.
	n.mu.Lock()
	delete(n.addrs, "hs-a.test")
	n.mu.Unlock()
	// Deliver it by hand, signed by A, straight to B's listener.
	code, body := craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/second-only",
		map[string]any{"origin": "hs-a.test", "origin_server_ts": 1, "pdus": []json.RawMessage{secondEv.JSON}}, nil)
	if code != 200 {
		t.Fatalf("/send: %d %v", code, body)
	}
	if r := body["pdus"].(map[string]any)[second].(map[string]any); r["error"] == nil {
		t.Fatalf("second was accepted without its prev event: %v", r)
	}
	got, err := b.srv.store.Event(ctx, second)
	if err != nil || got.Status.String() != "parked" {
		t.Fatalf("second is %v (%v), want parked", got.Status, err)
	}
	// The prev event arrives: both are taken in, first then second.
	n.mu.Lock()
	n.addrs["hs-a.test"] = a.addr
	n.mu.Unlock()
	code, body = craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/first",
		map[string]any{"origin": "hs-a.test", "origin_server_ts": 1, "pdus": []json.RawMessage{firstEv.JSON}}, nil)
	if code != 200 {
		t.Fatalf("/send: %d %v", code, body)
	}
	waitMessage(t, b.messages, "first")
	waitMessage(t, b.messages, "second")
	got, _ = b.srv.store.Event(ctx, second)
	if got.Status.String() != "accepted" {
		t.Fatalf("second is %v after its prev arrived", got.Status)
	}
}
