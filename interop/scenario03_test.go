package interop

import (
	"encoding/json"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestScenario03_RevokePendingInvite: our alice invites a Dendrite user,
// then revokes the invite before they answer (RevokeInvite: alice kicks
// the invitee). Our side shows the invite revoked (RoomInvites, Room,
// Hooks.OnInviteState), and the kick reaches the invitee's server in a
// /send transaction that server acknowledges: the proxy's record holds a
// PUT /send to Dendrite answered 200 whose "pdus" lists the kick's event
// ID without an error. Dendrite never sends such a kick to an invitee's
// server itself, and v0.15.2 keeps no room state behind a pending invite,
// so what its /sync shows afterwards is only reported, not asserted. The
// Dendrite user's join after the revoke must fail (our make_join refuses:
// the room is invite-only and the invite is gone).
func TestScenario03_RevokePendingInvite(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) { runScenario3(t, v) })
	}
}

func runScenario3(t *testing.T, version string) {
	e := newEnv(t)
	logFrom := e.d.logSize()
	bob := e.d.register(t, "bob", false)
	r := e.ourChannel(t, version, false)
	r.remote = bob
	r.inviteRemote(t, bob, nil)
	c := ctx(t)
	alice := e.o.userID("alice")

	start := time.Now()
	if err := e.o.srv.RevokeInvite(c, r.id, "alice", bob.UserID); err != nil {
		t.Fatalf("our RevokeInvite of %s: %v", bob.UserID, err)
	}
	t.Logf("RevokeInvite took %s", ms(time.Since(start)))

	// Our side, as soon as RevokeInvite has returned
	// (TestRegression_RevokeInviteStateAtReturn).
	invs, err := e.o.srv.RoomInvites(c, r.id)
	if err != nil || len(invs) != 1 || invs[0].Invitee != bob.UserID || invs[0].State != "revoked" {
		t.Errorf("RoomInvites after the revoke: %+v, %v; want bob's invite revoked", invs, err)
	}
	if _, ok := e.o.inviteStates.wait(waitTimeout, func(i homeserver.Invite) bool {
		return i.RoomID == r.id && i.Invitee == bob.UserID && i.State == "revoked"
	}); !ok {
		t.Errorf("Hooks.OnInviteState did not report bob's invite revoked (saw %v)", e.o.inviteStates.all())
	}
	sum, err := e.o.srv.Room(c, r.id)
	if err != nil {
		t.Fatalf("our Room: %v", err)
	}
	for _, m := range sum.Members {
		if m.UserID == bob.UserID && (m.Membership != "leave" || m.InviteState != "revoked") {
			t.Errorf("Room() shows bob as %+v, want membership leave, invite revoked", m)
		}
	}
	kick, err := e.o.store.StateEvent(c, r.id, "m.room.member", bob.UserID)
	if err != nil {
		t.Fatalf("our store has no member event of %s: %v", bob.UserID, err)
	}
	var kickEv struct {
		Content struct {
			Membership string `json:"membership"`
			Reason     string `json:"reason"`
		} `json:"content"`
	}
	_ = json.Unmarshal(kick.JSON, &kickEv)
	content := kickEv.Content
	if content.Membership != "leave" || kick.Sender != alice {
		t.Fatalf("our current member event of %s is %s from %s (%s), want a leave (kick) from %s", bob.UserID, content.Membership, kick.Sender, kick.EventID, alice)
	}
	t.Logf("the revoke is kick %s (reason %q)", kick.EventID, content.Reason)

	// The delivery to Dendrite, the invitee's server.
	d, ok := r.p.waitDelivered(kick.EventID, func(pdu map[string]any) bool { return pduIs(pdu, bob.UserID, "leave") })
	if !ok {
		for _, rec := range r.p.sendRecords() {
			t.Logf("/send to Dendrite: %s -> HTTP %d %s", rec.Body, rec.Status, rec.Response)
		}
		t.Fatalf("no /send transaction to Dendrite (%s) acknowledged the kick %s within %s", e.d.name, kick.EventID, waitTimeout)
	}
	t.Logf("delivered: PUT %s answered HTTP %d %s (%s after RevokeInvite started)", d.Record.Path, d.Record.Status, d.Record.Response, ms(d.Record.At.Sub(start)))
	var res struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(d.Result), &res)
	if res.Error != "" {
		t.Errorf("Dendrite acknowledged the transaction but refused the kick %s: %s", kick.EventID, d.Result)
	}
	if d.PDU == nil {
		t.Errorf("the acknowledged transaction does not hold a leave PDU for %s: %s", bob.UserID, d.Record.Body)
	}

	// What Dendrite shows: reported, not asserted.
	if it, ok := bob.waitLeaveSection(r.id, 2*time.Second, func(event) bool { return true }); ok {
		t.Logf("REPORT: Dendrite's incremental /sync moved %s to rooms.leave: %v", r.id, it.V.Event)
	} else {
		t.Logf("REPORT: Dendrite's incremental /sync did not list %s under rooms.leave within 2s of the delivery", r.id)
	}
	full, err := bob.fullSync()
	if err != nil {
		t.Fatalf("Dendrite /sync: %v", err)
	}
	_, inInvite := full.Rooms.Invite[r.id]
	_, inLeave := full.Rooms.Leave[r.id]
	_, inJoin := full.Rooms.Join[r.id]
	t.Logf("REPORT: Dendrite's full /sync for %s after the kick: rooms.invite %t, rooms.leave %t, rooms.join %t", bob.UserID, inInvite, inLeave, inJoin)
	for _, l := range e.d.logGrep(logFrom, kick.EventID, 5) {
		t.Logf("REPORT: Dendrite's log on the kick: %s", l)
	}

	// The invite is gone on our side: joining must fail.
	err = bob.join(r.id)
	if err == nil {
		t.Errorf("Dendrite user %s joined %s after the invite was revoked (invite-only room)", bob.UserID, r.id)
	} else {
		t.Logf("join after the revoke failed as it should: %v", err)
	}
	if m, err := e.o.srv.Room(c, r.id); err == nil {
		for _, mm := range m.Members {
			if mm.UserID == bob.UserID && mm.Membership == "join" {
				t.Errorf("our Room() shows %s joined after the revoke", bob.UserID)
			}
		}
	}
}
