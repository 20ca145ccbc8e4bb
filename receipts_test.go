package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// Tests of receipts.go's read receipts (typing is in typing_test.go).

func receiptOf(user, eventID string) func(Receipt) bool {
	return func(r Receipt) bool { return r.UserID == user && r.EventID == eventID }
}

func readers(t *testing.T, p *peer, roomID, eventID string) []string {
	t.Helper()
	rs, err := p.srv.ReadBy(context.Background(), roomID, eventID)
	if err != nil {
		t.Fatalf("%s ReadBy: %v", p.name, err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.UserID+"@"+r.EventID)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestReceiptsBothWays: each side marks the other's message read; the
// other host is told and can ask who read what, and when, also after a
// restart; a receipt on a later message counts for the earlier ones.
func TestReceiptsBothWays(t *testing.T) {
	a, b, _, _, roomID := ephemeralPair(t, nil)
	ctx := context.Background()
	alice, bob := a.userID("alice"), b.userID("bob")

	m1 := say(t, a, b, roomID, "alice", "m1")
	m2 := say(t, a, b, roomID, "alice", "m2")
	before := time.Now().Truncate(time.Millisecond)
	if err := b.srv.MarkRead(ctx, roomID, "bob", m1); err != nil {
		t.Fatal(err)
	}
	r := expect(t, "bob's receipt on A", a.receipts, receiptOf(bob, m1))
	if r.RoomID != roomID || r.Timestamp.Before(before) || r.Timestamp.After(time.Now()) {
		t.Fatalf("A was told %+v", r)
	}
	if got := readers(t, a, roomID, m1); !slices.Equal(got, []string{bob + "@" + m1}) {
		t.Fatalf("A: read m1: %q", got)
	}
	if got := readers(t, a, roomID, m2); len(got) != 0 {
		t.Fatalf("A: read m2 before anyone did: %q", got)
	}
	if got := readers(t, b, roomID, m1); !slices.Equal(got, []string{bob + "@" + m1}) {
		t.Fatalf("B: read m1 (its own user): %q", got)
	}

	// The other way.
	m3 := say(t, b, a, roomID, "bob", "m3")
	if err := a.srv.MarkRead(ctx, roomID, "alice", m3); err != nil {
		t.Fatal(err)
	}
	expect(t, "alice's receipt on B", b.receipts, receiptOf(alice, m3))
	if got := readers(t, b, roomID, m3); !slices.Equal(got, []string{alice + "@" + m3}) {
		t.Fatalf("B: read m3: %q", got)
	}

	// bob reads on to m2: he has read m1 too, and only his newest receipt
	// is kept.
	if err := b.srv.MarkRead(ctx, roomID, "bob", m2); err != nil {
		t.Fatal(err)
	}
	expect(t, "bob's second receipt on A", a.receipts, receiptOf(bob, m2))
	for _, ev := range []string{m1, m2} {
		got := readers(t, a, roomID, ev)
		if !slices.Contains(got, bob+"@"+m2) || slices.Contains(got, bob+"@"+m1) {
			t.Fatalf("A: read %s after bob read on: %q", ev, got)
		}
	}

	// Receipts are in the store: they survive a restart.
	a.restart()
	if got := readers(t, a, roomID, m1); !slices.Contains(got, bob+"@"+m2) || !slices.Contains(got, alice+"@"+m3) {
		t.Fatalf("A after a restart: read m1: %q", got)
	}
	nothingOn(t, "A's host told of its own user's receipt", a.receipts, 200*time.Millisecond)
}

func TestMarkReadRefusals(t *testing.T) {
	a, b, _, _, roomID := ephemeralPair(t, nil)
	ctx := context.Background()
	m1 := say(t, a, b, roomID, "alice", "m1")
	other, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := a.srv.SendMessage(ctx, other, "alice", "in another room")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		readBy            bool // ask ReadBy instead of MarkRead
		room, user, event string
		want              error
	}{
		"unknown event":                  {room: roomID, user: "alice", event: "$nope", want: ErrUnknownEvent},
		"event of another room":          {room: roomID, user: "alice", event: m2, want: ErrUnknownEvent},
		"unknown room":                   {room: "!nope:hs-a.test", user: "alice", event: m1, want: ErrUnknownRoom},
		"user not in the room":           {room: roomID, user: "carol", event: m1, want: ErrNotJoined},
		"remote user":                    {room: roomID, user: b.userID("bob"), event: m1, want: ErrInvalidUserID},
		"not a user name":                {room: roomID, user: "", event: m1, want: ErrInvalidUserID},
		"ReadBy of unknown event":        {readBy: true, room: roomID, event: "$nope", want: ErrUnknownEvent},
		"ReadBy of another room's event": {readBy: true, room: roomID, event: m2, want: ErrUnknownEvent},
		"ReadBy of unknown room":         {readBy: true, room: "!nope:hs-a.test", event: m1, want: ErrUnknownRoom},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			if c.readBy {
				_, err = a.srv.ReadBy(ctx, c.room, c.event)
			} else {
				err = a.srv.MarkRead(ctx, c.room, c.user, c.event)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if err := a.srv.Typing(ctx, roomID, "carol", true); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("Typing of a user not in the room: %v", err)
	}
}

// TestReceiptsCoalesced: a burst of MarkRead calls by two users leaves as
// fewer EDUs than calls, and the other host ends with each user's newest.
func TestReceiptsCoalesced(t *testing.T) {
	a, b, ea, _, roomID := ephemeralPair(t, nil)
	ctx := context.Background()
	// dave, a second user on A, joins the room.
	dave := a.userID("dave")
	if err := a.srv.Invite(ctx, roomID, "alice", dave); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.rooms.Send(ctx, roomID, dave, spec.MRoomMember, &dave, map[string]any{"membership": spec.Join}); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, b.memberships, dave, "join")

	var ids []string
	for i := range 10 {
		ids = append(ids, say(t, b, a, roomID, "bob", fmt.Sprintf("burst %d", i)))
	}
	calls := 0
	for _, id := range ids {
		for _, user := range []string{"alice", "dave"} {
			if err := a.srv.MarkRead(ctx, roomID, user, id); err != nil {
				t.Fatal(err)
			}
			calls++
		}
	}
	last := ids[len(ids)-1]
	got := map[string]int{}
	for len(got) < 2 || got[a.userID("alice")] == 0 || got[dave] == 0 {
		r := expect(t, "the newest receipts on B", b.receipts, func(Receipt) bool { return true })
		if r.EventID == last {
			got[r.UserID]++
		}
	}
	sent := ea.queuedEDUs("hs-b.test", "m.receipt")
	t.Logf("%d MarkRead calls left as %d m.receipt EDUs", calls, sent)
	if sent == 0 || sent >= calls/2 {
		t.Fatalf("%d MarkRead calls (two users) left as %d EDUs; want fewer than one per user and call", calls, sent)
	}
	want := []string{a.userID("alice") + "@" + last, dave + "@" + last}
	if got := readers(t, b, roomID, ids[0]); !sameSet(got, want) {
		t.Fatalf("B: read the first burst message: %q, want %q", got, want)
	}
}

// TestInboundEDUsRefused: a receipt or typing notification is accepted only
// for a user of the sending server who is joined to the room, from a server
// the room's ACL allows. /send still answers 200.
func TestInboundEDUsRefused(t *testing.T) {
	a, b, c, roomID := threeServers(t, "10")
	ctx := context.Background()
	m1 := say(t, a, b, roomID, "alice", "m1")
	sendState(t, a, roomID, "alice", "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"hs-c.test"}})
	eventually(t, "b has the ACL", waitFor, func() error {
		_, err := b.srv.store.StateEvent(ctx, roomID, "m.room.server_acl", "")
		return err
	})
	alice, carol := a.userID("alice"), c.userID("carol")
	ts := time.Now().UnixMilli() - 1000

	// Each refused EDU is followed by a good one in the same transaction:
	// hooks run in order, so the good one arriving first proves the bad one
	// was dropped.
	cases := map[string]struct {
		from signer
		bad  any
	}{
		"receipt for a user of another server": {from: signerOf(a), bad: receiptEDU(roomID, b.userID("bob"), m1, ts)},
		"receipt for a user not in the room":   {from: signerOf(a), bad: receiptEDU(roomID, a.userID("mallory"), m1, ts)},
		"receipt from a server the ACL denies": {from: signerOf(c), bad: receiptEDU(roomID, carol, m1, ts)},
		"receipt for an unknown room":          {from: signerOf(a), bad: receiptEDU("!nope:hs-a.test", alice, m1, ts)},
		"typing for a user of another server":  {from: signerOf(a), bad: typingEDU(roomID, b.userID("bob"), true)},
		"typing for a user not in the room":    {from: signerOf(a), bad: typingEDU(roomID, a.userID("mallory"), true)},
		"typing from a server the ACL denies":  {from: signerOf(c), bad: typingEDU(roomID, carol, true)},
		"garbage EDUs":                         {from: signerOf(a), bad: "not an EDU"},
		"receipt content not an object":        {from: signerOf(a), bad: map[string]any{"edu_type": "m.receipt", "content": []int{1}}},
		"typing content with typing a string":  {from: signerOf(a), bad: map[string]any{"edu_type": "m.typing", "content": map[string]any{"room_id": roomID, "user_id": alice, "typing": "yes"}}},
	}
	i := 0
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			good := receiptEDU(roomID, alice, m1, ts+int64(i))
			goodFrom := signerOf(a)
			if c.from.name == goodFrom.name {
				sendEDUs(t, c.from, b, fmt.Sprintf("refuse-%d", i), c.bad, good)
			} else {
				sendEDUs(t, c.from, b, fmt.Sprintf("refuse-%d", i), c.bad)
				sendEDUs(t, goodFrom, b, fmt.Sprintf("refuse-good-%d", i), good)
			}
			r := <-b.receipts
			if r.UserID != alice || r.Timestamp.UnixMilli() != ts+int64(i) {
				t.Fatalf("B surfaced a refused receipt: %+v", r)
			}
			select {
			case ty := <-b.typing:
				t.Fatalf("B surfaced a refused typing notification: %+v", ty)
			default:
			}
			if got := b.srv.TypingUsers(roomID); len(got) != 0 {
				t.Fatalf("B counts refused typists: %q", got)
			}
			if got := readers(t, b, roomID, m1); !slices.Equal(got, []string{alice + "@" + m1}) {
				t.Fatalf("B: read m1: %q", got)
			}
		})
	}
	// carol's own server may still say she is typing once the ACL is lifted.
	sendState(t, a, roomID, "alice", "m.room.server_acl", "", map[string]any{"allow": []string{"*"}})
	eventually(t, "b has the lifted ACL", waitFor, func() error {
		ev, err := b.srv.store.StateEvent(ctx, roomID, "m.room.server_acl", "")
		if err != nil || gjson.GetBytes(ev.JSON, "content.deny.#").Int() != 0 {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
	sendEDUs(t, signerOf(c), b, "after-acl", typingEDU(roomID, carol, true))
	expect(t, "carol typing", b.typing, func(ty Typing) bool { return ty.UserID == carol && ty.Typing })
}

// TestReceiptEDUShape checks what goes on the wire against the spec's
// m.receipt and m.typing shapes, through B's queue.
func TestReceiptEDUShape(t *testing.T) {
	a, b, _, _, roomID := ephemeralPair(t, nil)
	ctx := context.Background()
	m1 := say(t, a, b, roomID, "alice", "m1")
	b.stop()
	if err := a.srv.MarkRead(ctx, roomID, "alice", m1); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Typing(ctx, roomID, "alice", true); err != nil {
		t.Fatal(err)
	}
	var edus [][]byte
	eventually(t, "A queued both EDUs for B", waitFor, func() error {
		txn, err := a.srv.store.NextTransaction(ctx, "hs-b.test", 50, 100)
		if err != nil {
			return err
		}
		if len(txn.EDUs) < 2 {
			// The sender may have opened a transaction before both were
			// queued; acknowledge it so the rest come next.
			edus = append(edus, txn.EDUs...)
			if err := a.srv.store.CompleteTransaction(ctx, "hs-b.test", txn.TxnID); err != nil {
				return err
			}
			if len(edus) < 2 {
				return errors.New("not yet")
			}
			return nil
		}
		edus = append(edus, txn.EDUs...)
		return nil
	})
	var sawReceipt, sawTyping bool
	for _, raw := range edus {
		var e map[string]json.RawMessage
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("queued EDU is not JSON: %s", raw)
		}
		switch gjson.GetBytes(raw, "edu_type").Str {
		case "m.receipt":
			sawReceipt = true
			path := gjson.Escape(roomID) + ".m\\.read." + gjson.Escape(a.userID("alice"))
			entry := gjson.GetBytes(e["content"], path)
			if entry.Get("event_ids.#").Int() != 1 || entry.Get("event_ids.0").Str != m1 || entry.Get("data.ts").Int() == 0 {
				t.Fatalf("m.receipt EDU: %s", raw)
			}
		case "m.typing":
			sawTyping = true
			c := gjson.ParseBytes(e["content"])
			if c.Get("room_id").Str != roomID || c.Get("user_id").Str != a.userID("alice") || c.Get("typing").Type != gjson.True {
				t.Fatalf("m.typing EDU: %s", raw)
			}
		}
	}
	if !sawReceipt || !sawTyping {
		t.Fatalf("queued EDUs: %q", edus)
	}
}

// TestInboundReceiptsBounded: a transaction's EDUs are looked at for at most
// receipts.MaxReceiptsPerEDU receipts in all; the rest are dropped.
func TestInboundReceiptsBounded(t *testing.T) {
	a, b, _, _, roomID := ephemeralPair(t, nil)
	m1 := say(t, a, b, roomID, "alice", "m1")
	flood := map[string]any{}
	for i := range 1000 {
		flood[a.userID(fmt.Sprintf("nobody%04d", i))] = map[string]any{"event_ids": []string{m1}, "data": map[string]any{"ts": 1}}
	}
	floodEDU := map[string]any{"edu_type": "m.receipt", "content": map[string]any{roomID: map[string]any{"m.read": flood}}}
	alice := a.userID("alice")
	sendEDUs(t, signerOf(a), b, "flood", floodEDU, receiptEDU(roomID, alice, m1, 5))
	sendEDUs(t, signerOf(a), b, "after-flood", receiptEDU(roomID, alice, m1, 6))
	if r := <-b.receipts; r.Timestamp.UnixMilli() != 6 {
		t.Fatalf("the receipt past the transaction's budget was looked at: %+v", r)
	}
}

// ExampleServer_MarkRead shows receipts and typing from the host's side.
func ExampleServer_MarkRead() {
	ctx := context.Background()
	hs, err := New(ctx, Config{
		ServerName:    "chat.example.com",
		DatabasePath:  "/var/lib/chat/matrix.db",
		TypingTimeout: 20 * time.Second, // default 30 s
		// Receipts: SwitchOff would keep read receipts at home.
		Hooks: Hooks{
			OnReceipt: func(ctx context.Context, r Receipt) {
				fmt.Println(r.UserID, "read", r.RoomID, "up to", r.EventID, "at", r.Timestamp)
			},
			OnTyping: func(ctx context.Context, t Typing) {
				fmt.Println(t.UserID, "typing in", t.RoomID, t.Typing)
			},
		},
	})
	if err != nil {
		panic(err)
	}
	defer hs.Close()
	roomID, eventID := "!room:chat.example.com", "$event"

	// alice opened the room and saw the message.
	_ = hs.MarkRead(ctx, roomID, "alice", eventID)
	// Who has seen it, and when?
	readers, _ := hs.ReadBy(ctx, roomID, eventID)
	for _, r := range readers {
		fmt.Println(r.UserID, r.Timestamp)
	}
	// alice types: say so every few seconds while she does, then stop.
	_ = hs.Typing(ctx, roomID, "alice", true)
	fmt.Println(hs.TypingUsers(roomID))
	_ = hs.Typing(ctx, roomID, "alice", false)
}
