package homeserver

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// Tests of receipts.go's typing notifications and of the Receipts and
// Typing switches.

// TestTyping: start, refresh while typing (the other side never sees a
// stop), stop, expiry after the timeout, both ways.
func TestTyping(t *testing.T) {
	const timeout = 600 * time.Millisecond
	a, b, ea, _, roomID := ephemeralPair(t, func(c *Config) { c.TypingTimeout = timeout })
	ctx := context.Background()
	alice, bob := a.userID("alice"), b.userID("bob")
	isAlice := func(typing bool) func(Typing) bool {
		return func(ty Typing) bool { return ty.UserID == alice && ty.Typing == typing }
	}

	// Start and stop.
	if err := a.srv.Typing(ctx, roomID, "alice", true); err != nil {
		t.Fatal(err)
	}
	expect(t, "alice starts", b.typing, isAlice(true))
	if got := b.srv.TypingUsers(roomID); !slices.Equal(got, []string{alice}) {
		t.Fatalf("B: typing users %q", got)
	}
	if got := a.srv.TypingUsers(roomID); !slices.Equal(got, []string{alice}) {
		t.Fatalf("A: typing users %q", got)
	}
	if err := a.srv.Typing(ctx, roomID, "alice", false); err != nil {
		t.Fatal(err)
	}
	if ty := expect(t, "alice stops", b.typing, isAlice(false)); ty.Expired {
		t.Fatalf("an explicit stop came as an expiry: %+v", ty)
	}
	if got := b.srv.TypingUsers(roomID); len(got) != 0 {
		t.Fatalf("B: typing users after the stop %q", got)
	}

	// Refresh: alice keeps typing for five timeouts; B never sees her stop.
	if err := a.srv.Typing(ctx, roomID, "alice", true); err != nil {
		t.Fatal(err)
	}
	expect(t, "alice starts again", b.typing, isAlice(true))
	end := time.Now().Add(5 * timeout)
	for time.Now().Before(end) {
		time.Sleep(timeout / 3)
		if err := a.srv.Typing(ctx, roomID, "alice", true); err != nil {
			t.Fatal(err)
		}
		if got := b.srv.TypingUsers(roomID); !slices.Equal(got, []string{alice}) {
			t.Fatalf("B forgot alice while she kept typing: %q", got)
		}
	}
	select {
	case ty := <-b.typing:
		t.Fatalf("B was told %+v while alice kept typing", ty)
	default:
	}
	if n := ea.queuedEDUs("hs-b.test", "m.typing"); n < 4 {
		t.Fatalf("A queued %d m.typing EDUs; want a start, a stop and refreshes", n)
	}

	// She stops refreshing: she stops typing within about a timeout.
	stopped := time.Now()
	expect(t, "alice expires", b.typing, isAlice(false))
	if d := time.Since(stopped); d > 3*timeout {
		t.Fatalf("alice stopped typing %s after her last refresh; timeout %s", d, timeout)
	}
	if got := a.srv.TypingUsers(roomID); len(got) != 0 {
		t.Fatalf("A: typing users after expiry %q", got)
	}

	// The other way, and a remote typist whose server never says stop.
	if err := b.srv.Typing(ctx, roomID, "bob", true); err != nil {
		t.Fatal(err)
	}
	expect(t, "bob starts", a.typing, func(ty Typing) bool { return ty.UserID == bob && ty.Typing })
	sendEDUs(t, signerOf(a), b, "typing-no-stop", typingEDU(roomID, alice, true))
	expect(t, "alice starts (crafted)", b.typing, isAlice(true))
	started := time.Now()
	ty := expect(t, "alice expires on B", b.typing, isAlice(false))
	if !ty.Expired {
		t.Fatalf("want an expiry, got %+v", ty)
	}
	if d := time.Since(started); d < timeout/2 || d > 3*timeout {
		t.Fatalf("a remote typist expired after %s; timeout %s", d, timeout)
	}
}

// TestEphemeralSwitchesOff: with Receipts and Typing off, a server sends
// neither and surfaces neither, while the rest of the room works.
func TestEphemeralSwitchesOff(t *testing.T) {
	n := newNetwork()
	off := func(c *Config) { c.Receipts, c.Typing = SwitchOff, SwitchOff }
	ea, eb := &eduCounter{}, &eduCounter{}
	a := newPeer(t, n, "hs-a.test", withConfig(off), withStore(ea.wrap))
	b := newPeer(t, n, "hs-b.test", withStore(eb.wrap))
	roomID := sharedRoom(t, a, b, "10")
	ctx := context.Background()
	alice, bob := a.userID("alice"), b.userID("bob")

	// Nothing sent: A's receipts and typing stay home.
	m1 := say(t, b, a, roomID, "bob", "m1")
	if err := a.srv.MarkRead(ctx, roomID, "alice", m1); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Typing(ctx, roomID, "alice", true); err != nil {
		t.Fatal(err)
	}
	if got := a.srv.TypingUsers(roomID); len(got) != 0 {
		t.Fatalf("A with typing off lists typists: %q", got)
	}
	time.Sleep(300 * time.Millisecond) // past the coalescing window
	say(t, a, b, roomID, "alice", "after the receipt")
	for _, typ := range []string{"m.receipt", "m.typing"} {
		if n := ea.queuedEDUs("hs-b.test", typ); n != 0 {
			t.Fatalf("A with %s off queued %d", typ, n)
		}
	}
	nothingOn(t, "B told of a receipt A should not send", b.receipts, 100*time.Millisecond)
	nothingOn(t, "B told of typing A should not send", b.typing, 0)
	if got := readers(t, b, roomID, m1); len(got) != 0 {
		t.Fatalf("B: read m1: %q", got)
	}
	// A still knows what its own user read.
	if got := readers(t, a, roomID, m1); !slices.Equal(got, []string{alice + "@" + m1}) {
		t.Fatalf("A: read m1: %q", got)
	}

	// Nothing surfaced: B's receipts and typing reach A and are dropped.
	m2 := say(t, a, b, roomID, "alice", "m2")
	if err := b.srv.MarkRead(ctx, roomID, "bob", m2); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Typing(ctx, roomID, "bob", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's EDUs queued", waitFor, func() error {
		if eb.queuedEDUs("hs-a.test", "m.receipt") == 0 || eb.queuedEDUs("hs-a.test", "m.typing") == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	sendEDUs(t, signerOf(b), a, "off-direct", receiptEDU(roomID, bob, m2, time.Now().UnixMilli()), typingEDU(roomID, bob, true))
	say(t, b, a, roomID, "bob", "after the EDUs") // the queue to A is past B's EDUs
	nothingOn(t, "A with receipts off told of a receipt", a.receipts, 200*time.Millisecond)
	nothingOn(t, "A with typing off told of typing", a.typing, 0)
	if got := readers(t, a, roomID, m2); len(got) != 0 {
		t.Fatalf("A with receipts off stored a remote receipt: %q", got)
	}
	if got := a.srv.TypingUsers(roomID); len(got) != 0 {
		t.Fatalf("A with typing off lists typists: %q", got)
	}
}
