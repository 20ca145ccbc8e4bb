package interop

import (
	"testing"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestRich10_V12CreatorRedaction: a v12 room creator's redactions
// (MSC4289: creators have infinite power and no entry in the power
// levels). DendriteCreatorDeletesOurs: in Dendrite's v12 room, its
// creator dave deletes our carol's message; by the spec the creator may,
// and our side applies it (asserted: OnRedaction, Message.Deleted);
// Dendrite v0.15.2's own handling is reported (its power check reads the
// power levels only and it falls back to the domain match, so it keeps
// the message). DendriteCreatorOwn: dave deletes his own message in v12
// and v10 rooms of Dendrite's own; Dendrite applies both (the domain
// match; its own redactions carry a top-level redacts), which shows that
// what Dendrite does not apply from us in v12 is our content.redacts
// (ourRedactionsReachDendrite), not our creator.
func TestRich10_V12CreatorRedaction(t *testing.T) {
	t.Run("DendriteCreatorDeletesOurs", func(t *testing.T) {
		r, _ := scenario2(t, "12")
		target := r.send(t, homeserver.MessageContent{Body: "carol's message in dave's room"})
		r.seenByDendrite(t, target)
		rid, err := r.remote.redact(r.id, target, "creator's call")
		if err != nil {
			t.Fatalf("Dendrite's creator could not redact our message: %v", err)
		}
		x := r.waitRedactionHook(t, rid)
		if x.Target != target || x.Sender != r.remote.UserID || x.TargetSender != r.o.userID(r.local) {
			t.Errorf("OnRedaction = %+v; want Target %s by %s", x, target, r.remote.UserID)
		}
		r.deletedHere(t, target)
		r.reportNotApplied(t, "a v12 creator, dave, redacting another server's user: Dendrite's power check does not know creators", target, rid)
	})
	t.Run("DendriteCreatorOwn", func(t *testing.T) {
		d := sharedDendrite(t)
		dave := d.register(t, "dave", false)
		for _, v := range []string{"12", "10"} {
			roomID, err := dave.createRoom(map[string]any{"preset": "private_chat", "room_version": v})
			if err != nil {
				t.Fatalf("Dendrite createRoom v%s: %v", v, err)
			}
			r := &room{d: d, remote: dave, id: roomID}
			id := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "dave's own v" + v + " message"})
			rid, err := dave.redact(roomID, id, "mine")
			if err != nil {
				t.Fatalf("Dendrite's creator could not redact their own v%s message: %v", v, err)
			}
			r.redactedOnDendrite(t, id, rid)
		}
	})
}
