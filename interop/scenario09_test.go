package interop

import (
	"encoding/json"
	"testing"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestScenario09_DirectMessages: DMs and group DMs with Dendrite users.
//   - Our alice opens a DM with a Dendrite user (CreateRoom, Kind dm, with
//     Invite): Dendrite's /sync shows the invite with is_direct in the
//     invite's content; the user joins; messages go both ways; both are
//     owners (power 100) as Dendrite sees it.
//   - Our alice opens a group DM with two Dendrite users through the
//     host command ("/federation dm @a @b", Command): both see is_direct
//     invites and join; a message from each side reaches everyone.
//   - A Dendrite user opens a DM with our carol (createRoom with is_direct
//     and invite): our OnInvite has IsDirect, Rooms lists it as a dm after
//     AcceptInvite, and messages go both ways.
func TestScenario09_DirectMessages(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			t.Run("OurDM", func(t *testing.T) { ourDM(t, v) })
			t.Run("OurGroupDM", func(t *testing.T) { ourGroupDM(t, v) })
			t.Run("DendriteDM", func(t *testing.T) { dendriteDM(t, v) })
		})
	}
}

// checkDirectInvite checks the invite Dendrite's /sync shows: is_direct
// on the invitee's own member event, sent by our alice.
func checkDirectInvite(t *testing.T, it stamped[syncItem], invitee, inviter string) {
	t.Helper()
	m, ok := findState(it.V.Invite, "m.room.member", invitee)
	if !ok {
		t.Errorf("Dendrite's invite_state for %s lacks their member event: %v", invitee, it.V.Invite)
		return
	}
	var c struct {
		Membership string `json:"membership"`
		IsDirect   bool   `json:"is_direct"`
	}
	_ = json.Unmarshal(m.Content, &c)
	if c.Membership != "invite" || !c.IsDirect || m.Sender != inviter {
		t.Errorf("Dendrite shows %s's invite as %s from %s, want membership invite with is_direct true from %s", invitee, m.Content, m.Sender, inviter)
	}
}

func ourDM(t *testing.T, version string) {
	e := newEnv(t)
	bob := e.d.register(t, "bob", false)
	c := ctx(t)
	alice := e.o.userID("alice")
	roomID, err := e.o.srv.CreateRoom(c, homeserver.CreateRoomRequest{Creator: "alice", Kind: homeserver.KindDM, Version: version, Invite: []string{bob.UserID}})
	if err != nil {
		t.Fatalf("our CreateRoom(dm with %s): %v", bob.UserID, err)
	}
	inv, ok := bob.waitInvite(roomID)
	if !ok {
		t.Fatalf("Dendrite's /sync did not show the DM invite to %s", roomID)
	}
	checkDirectInvite(t, inv, bob.UserID, alice)
	r := &room{o: e.o, d: e.d, p: e.p, remote: bob, local: "alice", id: roomID}
	r.remoteJoins(t, bob)
	r.messagesBothWays(t)
	sum, err := e.o.srv.Room(c, roomID)
	if err != nil || sum.Kind != homeserver.KindDM {
		t.Errorf("our Room(): kind %q, %v; want dm", sum.Kind, err)
	}
	pl, err := bob.stateContent(roomID, "m.room.power_levels", "")
	if err != nil {
		t.Fatalf("Dendrite GET power levels: %v", err)
	}
	if lvl := usersLevels(pl)[bob.UserID]; lvl != 100 {
		t.Errorf("Dendrite sees %s at power %d in the DM, want 100 (every DM member is an owner): %s", bob.UserID, lvl, pl)
	}
}

func ourGroupDM(t *testing.T, version string) {
	e := newEnv(t)
	bob := e.d.register(t, "bob", false)
	erin := e.d.register(t, "erin", false)
	c := ctx(t)
	alice := e.o.userID("alice")
	var roomID string
	var err error
	if version == "10" {
		// The host command; it makes a room of the default version (10).
		roomID, err = e.o.srv.Command(c, "alice", "/federation dm "+bob.UserID+" "+erin.UserID)
	} else {
		roomID, err = e.o.srv.CreateRoom(c, homeserver.CreateRoomRequest{Creator: "alice", Kind: homeserver.KindGroup, Version: version, Invite: []string{bob.UserID, erin.UserID}})
	}
	if err != nil {
		t.Fatalf("our group DM with %s and %s: %v", bob.UserID, erin.UserID, err)
	}
	for _, u := range []*csUser{bob, erin} {
		inv, ok := u.waitInvite(roomID)
		if !ok {
			t.Fatalf("Dendrite's /sync did not show %s the group DM invite", u.UserID)
		}
		checkDirectInvite(t, inv, u.UserID, alice)
	}
	r := &room{o: e.o, d: e.d, p: e.p, remote: bob, local: "alice", id: roomID}
	r.remoteJoins(t, bob)
	r.remoteJoins(t, erin)
	sum, err := e.o.srv.Room(c, roomID)
	if err != nil || sum.Kind != homeserver.KindGroup {
		t.Errorf("our Room(): kind %q, %v; want group", sum.Kind, err)
	}
	// Ours to both Dendrite users.
	body := "hello group " + randomString(4)
	if _, err := e.o.srv.SendMessage(c, roomID, "alice", body); err != nil {
		t.Fatalf("our SendMessage: %v", err)
	}
	for _, u := range []*csUser{bob, erin} {
		if _, ok := u.waitTimeline(roomID, isMessage(body)); !ok {
			t.Errorf("%s did not get our group message", u.UserID)
		}
	}
	// A Dendrite user's message reaches us and the other Dendrite user.
	body = "hello from bob to the group " + randomString(4)
	if _, err := bob.sendText(roomID, body); err != nil {
		t.Fatalf("Dendrite send: %v", err)
	}
	if _, ok := e.o.waitMessage(roomID, body); !ok {
		t.Errorf("our OnMessage did not get bob's group message")
	}
	if _, ok := erin.waitTimeline(roomID, isMessage(body)); !ok {
		t.Errorf("erin did not get bob's group message")
	}
}

func dendriteDM(t *testing.T, version string) {
	e := newEnv(t)
	dave := e.d.register(t, "dave", false)
	carol := e.o.userID("carol")
	c := ctx(t)
	roomID, err := dave.createRoom(map[string]any{"preset": "trusted_private_chat", "is_direct": true, "invite": []string{carol}, "room_version": version})
	if err != nil {
		t.Fatalf("Dendrite createRoom(is_direct, invite %s): %v", carol, err)
	}
	inv, ok := e.o.waitInvite(roomID)
	if !ok {
		t.Fatalf("our OnInvite did not report Dendrite's DM invite")
	}
	t.Logf("our OnInvite: %+v", inv.V)
	if !inv.V.IsDirect || inv.V.Inviter != dave.UserID || inv.V.Invitee != carol {
		t.Errorf("OnInvite = %+v, want IsDirect from %s to %s", inv.V, dave.UserID, carol)
	}
	if err := e.o.srv.AcceptInvite(c, roomID, "carol"); err != nil {
		t.Fatalf("our AcceptInvite: %v", err)
	}
	if _, ok := dave.waitTimeline(roomID, isMembership(carol, "join")); !ok {
		t.Fatalf("Dendrite did not see %s join the DM", carol)
	}
	rooms, err := e.o.srv.Rooms(c, "carol")
	if err != nil {
		t.Fatalf("Rooms(carol): %v", err)
	}
	found := false
	for _, re := range rooms {
		if re.RoomID == roomID {
			found = true
			if re.Kind != homeserver.KindDM || re.Membership != "join" {
				t.Errorf("Rooms(carol) lists the DM as %+v, want kind dm, joined", re)
			}
		}
	}
	if !found {
		t.Errorf("Rooms(carol) lacks the DM %s: %+v", roomID, rooms)
	}
	r := &room{o: e.o, d: e.d, p: e.p, remote: dave, local: "carol", id: roomID}
	r.messagesBothWays(t)
}
