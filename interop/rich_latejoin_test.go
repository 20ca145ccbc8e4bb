package interop

import (
	"testing"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestRich09_LateJoinerGetsRedacted: messages deleted before a server
// joins reach it in their redacted form, and its fetch of them succeeds
// (their hashes and signatures still verify). In our alice's room with
// Dendrite's bob, alice deletes one of her messages and bob one of his,
// and one message is kept. Then a second embedded server of ours joins
// and fetches the history: ViaOurs, invited by alice, it joins and
// backfills through our first server (which serves its redacted copies);
// ViaDendrite, invited by bob (a moderator, who may invite), through
// Dendrite. Either way it shows both messages deleted with no body and
// the kept one whole.
func TestRich09_LateJoinerGetsRedacted(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		bob := r.remote
		r.promote(t, bob.UserID) // bob may invite (our rooms: invite at 50)
		kept := r.send(t, homeserver.MessageContent{Body: "this one stays"})
		ours := r.send(t, homeserver.MessageContent{Body: "our secret", FormattedBody: "<b>our secret</b>"})
		r.seenByDendrite(t, ours)
		ourRed, err := r.o.srv.Redact(ctx(t), r.id, r.local, ours, "secret")
		if err != nil {
			t.Fatalf("our Redact: %v", err)
		}
		theirs := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "bob's secret"})
		r.ourHookMessage(t, theirs)
		theirRed, err := bob.redact(r.id, theirs, "secret too")
		if err != nil {
			t.Fatalf("Dendrite's redaction: %v", err)
		}
		r.deletedHere(t, ours)
		r.deletedHere(t, theirs)
		r.ourRedactionOnDendrite(t, ours, ourRed)
		r.redactedOnDendrite(t, theirs, theirRed)
		r.dendriteToOur(t, "after the deletions "+randomString(4))

		joinLate := func(t *testing.T, local string, invite func(userID string) error) {
			late := startOurs(t)
			uid := late.userID(local)
			if err := invite(uid); err != nil {
				t.Fatalf("invite of %s: %v", uid, err)
			}
			if _, ok := late.waitInvite(r.id); !ok {
				t.Fatalf("the late server's OnInvite did not report the invite to %s", r.id)
			}
			if err := late.srv.AcceptInvite(ctx(t), r.id, local); err != nil {
				t.Fatalf("the late server's AcceptInvite: %v", err)
			}
			lr := &room{o: late, d: r.d, remote: bob, local: local, id: r.id}
			// Redacted copies that failed their hash or signature check
			// would not be stored: Message would answer ErrUnknownEvent.
			lr.deletedHere(t, ours)
			lr.deletedHere(t, theirs)
			if m := lr.ourMessage(t, kept, "the kept message", func(homeserver.Message) bool { return true }); m.Body != "this one stays" || m.Deleted {
				t.Errorf("the late server shows the kept message as %+v", m)
			}
			for _, m := range late.messages.all() {
				if m.V.Body == "our secret" || m.V.Body == "bob's secret" || (m.V.FormattedBody != "" && m.V.EventID == ours) {
					t.Errorf("the late server's OnMessage was told a deleted message's content: %+v", m.V)
				}
			}
			// The late server takes part: its message reaches Dendrite.
			id := lr.send(t, homeserver.MessageContent{Body: "late hello from " + local})
			r.seenByDendrite(t, id)
		}
		t.Run("ViaOurs", func(t *testing.T) {
			joinLate(t, "carol", func(uid string) error { return r.o.srv.Invite(ctx(t), r.id, creator, uid) })
		})
		t.Run("ViaDendrite", func(t *testing.T) {
			joinLate(t, "erin", func(uid string) error { return bob.invite(r.id, uid) })
		})
	})
}
