package interop

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestScenario06_ReceiptsAndTyping: read receipts and typing, both
// directions, in a room of our alice and a Dendrite user:
//   - Dendrite's POST /receipt/m.read/{eventId} reaches our
//     Hooks.OnReceipt, and ReadBy lists the reader;
//   - our MarkRead shows up in Dendrite's /sync as an ephemeral m.receipt;
//   - Dendrite's PUT /typing (true, then false) reaches our Hooks.OnTyping
//     and TypingUsers;
//   - our Typing (true, then false) shows up in Dendrite's /sync as an
//     ephemeral m.typing.
func TestScenario06_ReceiptsAndTyping(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			r, _ := scenario1(t, v)
			t.Run("ReceiptDendriteToOurs", func(t *testing.T) { receiptDendriteToOurs(t, r) })
			t.Run("ReceiptOursToDendrite", func(t *testing.T) { receiptOursToDendrite(t, r) })
			t.Run("TypingDendriteToOurs", func(t *testing.T) { typingDendriteToOurs(t, r) })
			t.Run("TypingOursToDendrite", func(t *testing.T) { typingOursToDendrite(t, r) })
		})
	}
}

func receiptDendriteToOurs(t *testing.T, r *room) {
	bob := r.remote
	body := "read me " + randomString(4)
	evID, err := r.o.srv.SendMessage(ctx(t), r.id, r.local, body)
	if err != nil {
		t.Fatalf("our SendMessage: %v", err)
	}
	if _, ok := bob.waitTimeline(r.id, isMessage(body)); !ok {
		t.Fatalf("Dendrite's /sync did not show %s", evID)
	}
	start := time.Now()
	if err := bob.receipt(r.id, evID); err != nil {
		t.Fatalf("Dendrite POST /receipt/m.read/%s: %v", evID, err)
	}
	rc, ok := r.o.receipts.wait(waitTimeout, func(x homeserver.Receipt) bool { return x.RoomID == r.id && x.UserID == bob.UserID })
	if !ok {
		t.Fatalf("our OnReceipt did not report %s's receipt within %s (saw %v)", bob.UserID, waitTimeout, r.o.receipts.all())
	}
	t.Logf("our OnReceipt fired %s after Dendrite's POST /receipt: %+v", ms(rc.At.Sub(start)), rc.V)
	if rc.V.EventID != evID {
		t.Errorf("OnReceipt points at %s, want %s", rc.V.EventID, evID)
	}
	if rc.V.Timestamp.IsZero() {
		t.Errorf("OnReceipt has no timestamp: %+v", rc.V)
	}
	readers, err := r.o.srv.ReadBy(ctx(t), r.id, evID)
	if err != nil {
		t.Fatalf("ReadBy: %v", err)
	}
	if !slices.ContainsFunc(readers, func(x homeserver.Receipt) bool { return x.UserID == bob.UserID }) {
		t.Errorf("ReadBy(%s) = %+v, want %s among the readers", evID, readers, bob.UserID)
	}
}

func receiptOursToDendrite(t *testing.T, r *room) {
	bob, alice := r.remote, r.o.userID(r.local)
	body := "read this, alice " + randomString(4)
	evID, err := bob.sendText(r.id, body)
	if err != nil {
		t.Fatalf("Dendrite send: %v", err)
	}
	if _, ok := r.o.waitMessage(r.id, body); !ok {
		t.Fatalf("our OnMessage did not get %s", evID)
	}
	start := time.Now()
	if err := r.o.srv.MarkRead(ctx(t), r.id, r.local, evID); err != nil {
		t.Fatalf("our MarkRead: %v", err)
	}
	e, ok := bob.waitEphemeral(r.id, func(e event) bool {
		if e.Type != "m.receipt" {
			return false
		}
		var c map[string]map[string]map[string]json.RawMessage
		_ = json.Unmarshal(e.Content, &c)
		_, ok := c[evID]["m.read"][alice]
		return ok
	})
	if !ok {
		t.Fatalf("Dendrite's /sync showed no m.receipt for %s by %s within %s", evID, alice, waitTimeout)
	}
	t.Logf("Dendrite's /sync showed our receipt %s after MarkRead: %s", ms(e.At.Sub(start)), e.V.Event.Content)
}

func typingDendriteToOurs(t *testing.T, r *room) {
	bob := r.remote
	start := time.Now()
	if err := bob.setTyping(r.id, true); err != nil {
		t.Fatalf("Dendrite PUT /typing true: %v", err)
	}
	on, ok := r.o.typing.wait(waitTimeout, func(x homeserver.Typing) bool {
		return x.RoomID == r.id && x.UserID == bob.UserID && x.Typing
	})
	if !ok {
		t.Fatalf("our OnTyping did not report %s typing within %s", bob.UserID, waitTimeout)
	}
	t.Logf("our OnTyping(true) fired %s after Dendrite's PUT /typing", ms(on.At.Sub(start)))
	if users := r.o.srv.TypingUsers(r.id); !slices.Contains(users, bob.UserID) {
		t.Errorf("TypingUsers = %v, want %s in it", users, bob.UserID)
	}
	start = time.Now()
	if err := bob.setTyping(r.id, false); err != nil {
		t.Fatalf("Dendrite PUT /typing false: %v", err)
	}
	off, ok := r.o.typing.wait(waitTimeout, func(x homeserver.Typing) bool {
		return x.RoomID == r.id && x.UserID == bob.UserID && !x.Typing
	})
	if !ok {
		t.Fatalf("our OnTyping did not report %s stopped typing within %s", bob.UserID, waitTimeout)
	}
	t.Logf("our OnTyping(false) fired %s after Dendrite's PUT /typing false (expired %t)", ms(off.At.Sub(start)), off.V.Expired)
	if off.V.Expired {
		t.Errorf("OnTyping reported the stop as expired; Dendrite said typing false")
	}
	if users := r.o.srv.TypingUsers(r.id); slices.Contains(users, bob.UserID) {
		t.Errorf("TypingUsers = %v after the stop, want %s gone", users, bob.UserID)
	}
}

func typingOursToDendrite(t *testing.T, r *room) {
	bob, alice := r.remote, r.o.userID(r.local)
	typingHas := func(want bool) func(event) bool {
		return func(e event) bool {
			if e.Type != "m.typing" {
				return false
			}
			var c struct {
				UserIDs []string `json:"user_ids"`
			}
			_ = json.Unmarshal(e.Content, &c)
			return slices.Contains(c.UserIDs, alice) == want
		}
	}
	start := time.Now()
	if err := r.o.srv.Typing(ctx(t), r.id, r.local, true); err != nil {
		t.Fatalf("our Typing(true): %v", err)
	}
	on, ok := bob.waitEphemeral(r.id, typingHas(true))
	if !ok {
		t.Fatalf("Dendrite's /sync showed no m.typing with %s within %s", alice, waitTimeout)
	}
	t.Logf("Dendrite's /sync showed %s typing %s after Typing(true)", alice, ms(on.At.Sub(start)))
	start = time.Now()
	if err := r.o.srv.Typing(ctx(t), r.id, r.local, false); err != nil {
		t.Fatalf("our Typing(false): %v", err)
	}
	// An m.typing without alice, after the one with her.
	off, ok := waitAfter(bob.sync.feed, on.At, func(it syncItem) bool {
		return it.Section == "ephemeral" && it.RoomID == r.id && typingHas(false)(it.Event)
	})
	if !ok {
		t.Fatalf("Dendrite's /sync still shows %s typing %s after Typing(false)", alice, waitTimeout)
	}
	t.Logf("Dendrite's /sync showed %s stopped typing %s after Typing(false)", alice, ms(off.At.Sub(start)))
}

// waitAfter waits for an item that arrived after a time and matches pred.
func waitAfter[T any](f *feed[T], after time.Time, pred func(T) bool) (stamped[T], bool) {
	var found stamped[T]
	ok := eventually(func() bool {
		for _, it := range f.all() {
			if it.At.After(after) && pred(it.V) {
				found = it
				return true
			}
		}
		return false
	})
	return found, ok
}
