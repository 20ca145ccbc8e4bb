package homeserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Tests of presence.go: presence both ways, coalescing, expiry, the
// Presence switch and hostile m.presence EDUs.

func presenceEDU(entries ...map[string]any) map[string]any {
	return map[string]any{"edu_type": "m.presence", "content": map[string]any{"push": entries}}
}

func presenceEntry(userID, presence string, lastActiveAgo int64) map[string]any {
	return map[string]any{"user_id": userID, "presence": presence, "last_active_ago": lastActiveAgo}
}

func presenceOfUser(userID, presence string) func(Presence) bool {
	return func(p Presence) bool { return p.UserID == userID && p.Presence == presence }
}

func readPresence(t *testing.T, p *peer, userID string) Presence {
	t.Helper()
	pr, err := p.srv.Presence(context.Background(), userID)
	if err != nil {
		t.Fatalf("%s Presence(%s): %v", p.name, userID, err)
	}
	return pr
}

// TestPresenceBothWays: each side's presence reaches the other, with its
// status message; a burst leaves as one EDU with the newest state; a
// server sharing no room with the user is sent nothing.
func TestPresenceBothWays(t *testing.T) {
	a, b, ea, _, roomID := ephemeralPair(t, nil)
	_ = roomID
	c := newPeer(t, a.net, "hs-c.test") // shares no room with anyone
	ctx := context.Background()
	alice, bob := a.userID("alice"), b.userID("bob")

	before := time.Now().Add(-time.Second)
	if err := a.srv.SetPresence(ctx, "alice", "online", "making cupcakes"); err != nil {
		t.Fatal(err)
	}
	got := expect(t, "alice online on B", b.presence, presenceOfUser(alice, "online"))
	if got.StatusMsg != "making cupcakes" || !got.CurrentlyActive || got.Expired || got.LastActive.Before(before) || got.LastActive.After(time.Now().Add(time.Second)) {
		t.Fatalf("B was told %+v", got)
	}
	if pr := readPresence(t, b, alice); pr.Presence != "online" || pr.StatusMsg != "making cupcakes" {
		t.Fatalf("B reads alice as %+v", pr)
	}
	for _, who := range []string{"alice", alice} {
		if pr := readPresence(t, a, who); pr.UserID != alice || pr.Presence != "online" || !pr.CurrentlyActive {
			t.Fatalf("A reads its own %s as %+v", who, pr)
		}
	}

	// The other way.
	if err := b.srv.SetPresence(ctx, "bob", "unavailable", "lunch"); err != nil {
		t.Fatal(err)
	}
	got = expect(t, "bob unavailable on A", a.presence, presenceOfUser(bob, "unavailable"))
	if got.StatusMsg != "lunch" || got.CurrentlyActive {
		t.Fatalf("A was told %+v", got)
	}

	// A burst: one EDU, the newest state.
	eventually(t, "alice's first EDU queued", waitFor, func() error {
		if ea.queuedEDUs("hs-b.test", "m.presence") != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	for _, p := range []string{"unavailable", "online", "offline"} {
		if err := a.srv.SetPresence(ctx, "alice", p, ""); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, "alice offline on B", b.presence, presenceOfUser(alice, "offline"))
	if n := ea.queuedEDUs("hs-b.test", "m.presence"); n != 2 {
		t.Fatalf("A queued %d m.presence EDUs for B; want the first and one for the burst", n)
	}
	// Setting the same presence again sends nothing.
	if err := a.srv.SetPresence(ctx, "alice", "offline", ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the coalescing window
	if n := ea.queuedEDUs("hs-b.test", "m.presence"); n != 2 {
		t.Fatalf("an unchanged presence was sent: %d EDUs", n)
	}
	if n := ea.queuedEDUs("hs-c.test", "m.presence"); n != 0 {
		t.Fatalf("A sent %d presence EDUs to a server sharing no room with alice", n)
	}
	nothingOn(t, "C told of presence", c.presence, 100*time.Millisecond)
	nothingOn(t, "A's host told of its own user's presence", a.presence, 0)
}

func TestSetPresenceRefusals(t *testing.T) {
	a := newPeer(t, newNetwork(), "hs-a.test")
	ctx := context.Background()
	cases := map[string]struct {
		user, presence, msg string
		want                error
	}{
		"unknown presence":         {user: "alice", presence: "busy", want: ErrInvalidPresence},
		"empty presence":           {user: "alice", presence: "", want: ErrInvalidPresence},
		"status message too long":  {user: "alice", presence: "online", msg: strings.Repeat("x", 1025), want: ErrInvalidPresence},
		"status message not UTF-8": {user: "alice", presence: "online", msg: "\xff", want: ErrInvalidPresence},
		"user of another server":   {user: "@bob:hs-b.test", presence: "online", want: ErrInvalidUserID},
		"not a user":               {user: "", presence: "online", want: ErrInvalidUserID},
		"longest status message":   {user: "alice", presence: "online", msg: strings.Repeat("x", 1024)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := a.srv.SetPresence(ctx, c.user, c.presence, c.msg)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A user nobody reported is offline; a bad ID is an error.
	if pr := readPresence(t, a, "@nobody:hs-b.test"); pr.Presence != "offline" || !pr.LastActive.IsZero() {
		t.Fatalf("an unknown user: %+v", pr)
	}
	if _, err := a.srv.Presence(ctx, "@bad"); !errors.Is(err, ErrInvalidUserID) {
		t.Fatalf("Presence of a bad ID: %v", err)
	}
}

// TestPresenceExpiry: an online remote user goes unavailable when
// last_active_ago says they have been idle for 5 minutes.
func TestPresenceExpiry(t *testing.T) {
	a, b, _, _, _ := ephemeralPair(t, nil)
	bob := b.userID("bob")
	const idle = 5 * time.Minute
	sendEDUs(t, signerOf(b), a, "idle-soon", presenceEDU(presenceEntry(bob, "online", (idle-time.Second).Milliseconds())))
	expect(t, "bob online", a.presence, presenceOfUser(bob, "online"))
	sent := time.Now()
	got := expect(t, "bob idles", a.presence, presenceOfUser(bob, "unavailable"))
	if !got.Expired {
		t.Fatalf("want an expiry, got %+v", got)
	}
	if d := time.Since(sent); d < 500*time.Millisecond || d > 5*time.Second {
		t.Fatalf("bob idled %s after an EDU saying 1 s was left", d)
	}
	if pr := readPresence(t, a, bob); pr.Presence != "unavailable" {
		t.Fatalf("A reads bob as %+v", pr)
	}

	// Already idle when it arrives: unavailable at once. Currently active:
	// online, whatever last_active_ago says.
	active := presenceEntry(bob, "online", (10 * idle).Milliseconds())
	active["currently_active"] = true
	sendEDUs(t, signerOf(b), a, "active", presenceEDU(active))
	expect(t, "bob active", a.presence, presenceOfUser(bob, "online"))
	sendEDUs(t, signerOf(b), a, "idle-already", presenceEDU(presenceEntry(bob, "online", (idle+time.Second).Milliseconds())))
	if got := expect(t, "bob idle at once", a.presence, func(Presence) bool { return true }); got.Presence != "unavailable" || !got.Expired {
		t.Fatalf("A was told %+v", got)
	}
}

// TestPresenceHostile: presence for a user of another server, for a user
// sharing no room with us, and for a room we no longer share is refused;
// /send still answers 200 and good entries still count.
func TestPresenceHostile(t *testing.T) {
	a, b, _, _, roomID := ephemeralPair(t, nil)
	ctx := context.Background()
	bob, carol, mallory := b.userID("bob"), b.userID("carol"), "@mallory:hs-c.test"
	alice := a.userID("alice")
	sb := signerOf(b)

	sendEDUs(t, sb, a, "good", presenceEDU(presenceEntry(bob, "online", 0)))
	expect(t, "bob online (control)", a.presence, presenceOfUser(bob, "online"))

	cases := map[string]map[string]any{
		"a user of another server":         presenceEDU(presenceEntry(mallory, "online", 0)),
		"a user of the receiving server":   presenceEDU(presenceEntry(alice, "offline", 0)),
		"a user sharing no room with us":   presenceEDU(presenceEntry(carol, "online", 0)),
		"push is not a list":               {"edu_type": "m.presence", "content": map[string]any{"push": "online"}},
		"no push":                          {"edu_type": "m.presence", "content": map[string]any{}},
		"an entry without last_active_ago": presenceEDU(map[string]any{"user_id": bob, "presence": "offline"}),
		"an unknown presence":              presenceEDU(presenceEntry(bob, "busy", 0)),
	}
	for name, edu := range cases {
		t.Run(name, func(t *testing.T) {
			sendEDUs(t, sb, a, "hostile-"+name, edu)
		})
	}
	// In one EDU, a refused entry does not cost the good one after it.
	sendEDUs(t, sb, a, "mixed", presenceEDU(presenceEntry(mallory, "online", 0), presenceEntry(bob, "unavailable", 0)))
	if got := expect(t, "the next presence", a.presence, func(Presence) bool { return true }); got.UserID != bob || got.Presence != "unavailable" {
		t.Fatalf("A was told %+v; want bob unavailable, and nothing refused before it", got)
	}
	for _, u := range []string{mallory, carol} {
		if pr := readPresence(t, a, u); pr.Presence != "offline" || !pr.LastActive.IsZero() {
			t.Fatalf("A recorded refused presence of %s: %+v", u, pr)
		}
	}
	if pr := readPresence(t, a, alice); pr.Presence != "offline" || !pr.LastActive.IsZero() {
		t.Fatalf("B set A's own user's presence: %+v", pr)
	}

	// A room we no longer share: alice leaves; A still holds the room,
	// with bob joined in it, but none of its users is.
	if err := a.srv.Leave(ctx, roomID, "alice"); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, b.memberships, alice, "leave")
	sendEDUs(t, sb, a, "after-leave", presenceEDU(presenceEntry(bob, "offline", 0)))
	nothingOn(t, "presence of a user in a room we left", a.presence, 200*time.Millisecond)
	if pr := readPresence(t, a, bob); pr.Presence != "unavailable" {
		t.Fatalf("A took bob's presence from a room it left: %+v", pr)
	}
	// And bob's own server no longer sends it: nobody on A shares a room.
	if err := b.srv.SetPresence(ctx, "bob", "online", ""); err != nil {
		t.Fatal(err)
	}
	nothingOn(t, "presence sent after the leave", a.presence, 300*time.Millisecond)
}

// TestPresenceSwitchOff: with Presence off a server sends none and
// surfaces none, but still records its own users'.
func TestPresenceSwitchOff(t *testing.T) {
	n := newNetwork()
	ea, eb := &eduCounter{}, &eduCounter{}
	a := newPeer(t, n, "hs-a.test", withConfig(func(c *Config) { c.Presence = SwitchOff }), withStore(ea.wrap))
	b := newPeer(t, n, "hs-b.test", withStore(eb.wrap))
	roomID := sharedRoom(t, a, b, "10")
	ctx := context.Background()
	alice, bob := a.userID("alice"), b.userID("bob")

	if err := a.srv.SetPresence(ctx, "alice", "online", "hi"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.SetPresence(ctx, "alice", "busy", ""); !errors.Is(err, ErrInvalidPresence) {
		t.Fatalf("with presence off, a bad presence: %v", err)
	}
	if pr := readPresence(t, a, alice); pr.Presence != "online" || pr.StatusMsg != "hi" {
		t.Fatalf("A with presence off reads alice as %+v", pr)
	}
	time.Sleep(300 * time.Millisecond) // past the coalescing window
	say(t, a, b, roomID, "alice", "after the presence")
	if n := ea.queuedEDUs("hs-b.test", "m.presence"); n != 0 {
		t.Fatalf("A with presence off queued %d m.presence EDUs", n)
	}
	nothingOn(t, "B told of presence A should not send", b.presence, 100*time.Millisecond)

	if err := b.srv.SetPresence(ctx, "bob", "online", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's presence queued", waitFor, func() error {
		if eb.queuedEDUs("hs-a.test", "m.presence") == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	sendEDUs(t, signerOf(b), a, "off-direct", presenceEDU(presenceEntry(bob, "online", 0)))
	say(t, b, a, roomID, "bob", "after the presence") // the queue to A is past B's EDU
	nothingOn(t, "A with presence off told of presence", a.presence, 200*time.Millisecond)
	if pr := readPresence(t, a, bob); pr.Presence != "offline" {
		t.Fatalf("A with presence off recorded bob: %+v", pr)
	}
}

// TestPresenceWhenARoomBecomesShared: presence set before two servers
// share a room reaches the other server when they start to, both ways,
// without waiting for the next change.
func TestPresenceWhenARoomBecomesShared(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	if err := a.srv.SetPresence(ctx, "alice", "online", "here before you"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetPresence(ctx, "bob", "unavailable", "away"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetPresence(ctx, "carl", "offline", ""); err != nil {
		t.Fatal(err)
	}
	sharedRoom(t, a, b, "10")
	got := expect(t, "alice's presence on B once they share a room", b.presence, presenceOfUser(a.userID("alice"), "online"))
	if got.StatusMsg != "here before you" {
		t.Fatalf("B was told %+v", got)
	}
	expect(t, "bob's presence on A once he joined", a.presence, presenceOfUser(b.userID("bob"), "unavailable"))
	if pr := readPresence(t, a, b.userID("carl")); pr.Presence != "offline" || !pr.LastActive.IsZero() {
		t.Fatalf("an offline user who shares no room was announced: %+v", pr)
	}
}
