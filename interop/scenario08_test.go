package interop

import (
	"errors"
	"strings"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestScenario08_Bans: ban with a reason, both directions, in public rooms
// (so a failed rejoin is the ban's doing, not the join rule's).
//   - Our owner bans a Dendrite user (Ban): Dendrite's /sync shows the ban
//     with its reason, and Banned() lists it. While banned, our Invite
//     fails with ErrBanned and the Dendrite user's join fails. After Unban,
//     the invite reaches Dendrite and the join works.
//   - A Dendrite admin bans our user (POST /ban): our host gets
//     OnMembership (change "ban", with the reason). While banned,
//     Dendrite refuses to invite our user and our JoinRoom fails. After
//     POST /unban, Dendrite's invite reaches our host, AcceptInvite works,
//     and so do a leave and a plain rejoin (JoinRoom).
func TestScenario08_Bans(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			t.Run("OursBansDendrite", func(t *testing.T) { ourBan(t, v) })
			t.Run("DendriteBansOurs", func(t *testing.T) { dendriteBan(t, v) })
		})
	}
}

func ourBan(t *testing.T, version string) {
	e := newEnv(t)
	bob := e.d.register(t, "bob", false)
	r := e.ourChannel(t, version, true)
	r.remote = bob
	c := ctx(t)
	alice := e.o.userID("alice")
	if err := bob.join(r.id, e.o.name); err != nil {
		t.Fatalf("Dendrite user %s could not join our public room: %v", bob.UserID, err)
	}
	if _, ok := e.o.waitMembership(r.id, bob.UserID, "join"); !ok {
		t.Fatalf("our host did not see %s join", bob.UserID)
	}

	reason := "spamming, says " + randomString(4)
	start := time.Now()
	if err := e.o.srv.Ban(c, r.id, "alice", bob.UserID, reason); err != nil {
		t.Fatalf("our Ban: %v", err)
	}
	ban, ok := bob.sync.feed.wait(waitTimeout, func(it syncItem) bool {
		return it.RoomID == r.id && (it.Section == "leave" || it.Section == "join") && isMembership(bob.UserID, "ban")(it.Event)
	})
	if !ok {
		t.Fatalf("Dendrite's /sync did not show %s's ban within %s (%s)", bob.UserID, waitTimeout, bob.sync.status())
	}
	t.Logf("Dendrite's /sync showed the ban %s after Ban() (section rooms.%s): %v", ms(ban.At.Sub(start)), ban.V.Section, ban.V.Event)
	if ban.V.Event.str("reason") != reason || ban.V.Event.Sender != alice {
		t.Errorf("Dendrite shows the ban with reason %q from %s, want %q from %s", ban.V.Event.str("reason"), ban.V.Event.Sender, reason, alice)
	}
	banned, err := e.o.srv.Banned(c, r.id)
	if err != nil || len(banned) != 1 || banned[0] != (homeserver.BannedUser{UserID: bob.UserID, Reason: reason, By: alice}) {
		t.Errorf("our Banned() = %+v, %v; want %s banned by %s for %q", banned, err, bob.UserID, alice, reason)
	}

	// While banned.
	if err := e.o.srv.Invite(c, r.id, "alice", bob.UserID); !errors.Is(err, homeserver.ErrBanned) {
		t.Errorf("our Invite of the banned %s: %v, want ErrBanned", bob.UserID, err)
	}
	before := len(e.p.all())
	err = bob.join(r.id, e.o.name)
	if err == nil {
		t.Fatalf("the banned %s joined %s again", bob.UserID, r.id)
	}
	t.Logf("the banned Dendrite user's join failed: %v", err)
	asked := false
	for _, rec := range e.p.all()[before:] {
		if strings.Contains(rec.Path, "/make_join/") {
			asked = true
		}
	}
	t.Logf("REPORT: for the banned user's join Dendrite asked our server (make_join): %t", asked)

	// After the unban.
	if err := e.o.srv.Unban(c, r.id, "alice", bob.UserID); err != nil {
		t.Fatalf("our Unban: %v", err)
	}
	if banned, err := e.o.srv.Banned(c, r.id); err != nil || len(banned) != 0 {
		t.Errorf("our Banned() after Unban = %+v, %v; want none", banned, err)
	}
	r.inviteRemote(t, bob, nil)
	if err := bob.join(r.id, e.o.name); err != nil {
		t.Fatalf("Dendrite user %s could not join after the unban and the new invite: %v", bob.UserID, err)
	}
	if _, ok := e.o.memberships.wait(waitTimeout, func(m homeserver.Membership) bool {
		return m.RoomID == r.id && m.UserID == bob.UserID && m.Membership == "join" && m.EventID != ""
	}); !ok {
		t.Fatalf("our host did not see %s rejoin", bob.UserID)
	}
	r.messagesBothWays(t)
}

func dendriteBan(t *testing.T, version string) {
	e := newEnv(t)
	d, o := e.d, e.o
	dave := d.register(t, "dave", true)
	carol := o.userID("carol")
	c := ctx(t)
	roomID, err := dave.createRoom(map[string]any{"preset": "public_chat", "name": "public " + randomString(4), "room_version": version})
	if err != nil {
		t.Fatalf("Dendrite createRoom: %v", err)
	}
	r := &room{o: o, d: d, remote: dave, local: "carol", id: roomID}
	if err := o.srv.JoinRoom(c, roomID, "carol", []string{d.name}); err != nil {
		t.Fatalf("our JoinRoom of Dendrite's public room: %v", err)
	}
	if _, ok := dave.waitTimeline(roomID, isMembership(carol, "join")); !ok {
		t.Fatalf("Dendrite did not see %s join", carol)
	}

	reason := "off-topic, says " + randomString(4)
	start := time.Now()
	if err := dave.membershipCall("ban", roomID, carol, reason); err != nil {
		t.Fatalf("Dendrite POST /ban: %v", err)
	}
	m, ok := o.memberships.wait(waitTimeout, func(m homeserver.Membership) bool {
		return m.RoomID == roomID && m.UserID == carol && m.Membership == "ban"
	})
	if !ok {
		t.Fatalf("our OnMembership did not report %s's ban within %s", carol, waitTimeout)
	}
	t.Logf("our OnMembership reported the ban %s after POST /ban: %+v", ms(m.At.Sub(start)), m.V)
	if m.V.Change != "ban" || m.V.Reason != reason || m.V.Sender != dave.UserID {
		t.Errorf("OnMembership ban = %+v, want change ban, reason %q, sender %s", m.V, reason, dave.UserID)
	}
	if banned, err := o.srv.Banned(c, roomID); err != nil || len(banned) != 1 || banned[0].UserID != carol || banned[0].Reason != reason {
		t.Errorf("our Banned() = %+v, %v; want %s for %q", banned, err, carol, reason)
	}

	// While banned.
	if err := dave.invite(roomID, carol); err == nil {
		t.Errorf("Dendrite invited the banned %s", carol)
	} else {
		t.Logf("Dendrite refuses to invite the banned user: %v", err)
	}
	// Dendrite asks us to co-sign that invite before its own check
	// refuses it; we must not show it (TestRegression_NoPhantomInviteWhileBanned).
	time.Sleep(300 * time.Millisecond)
	for _, inv := range o.invites.all() {
		if inv.V.RoomID == roomID {
			t.Errorf("our OnInvite reported an invite of the banned %s: %+v", carol, inv.V)
		}
	}
	if err := o.srv.JoinRoom(c, roomID, "carol", []string{d.name}); err == nil {
		t.Fatalf("our banned %s joined %s again", carol, roomID)
	} else {
		t.Logf("our banned user's JoinRoom failed: %v", err)
	}

	// After the unban.
	start = time.Now()
	if err := dave.membershipCall("unban", roomID, carol, ""); err != nil {
		t.Fatalf("Dendrite POST /unban: %v", err)
	}
	if u, ok := o.memberships.wait(time.Second, func(m homeserver.Membership) bool {
		return m.RoomID == roomID && m.UserID == carol && m.Change == "unban"
	}); ok {
		t.Logf("REPORT: Dendrite sent the unban to our server (no user of ours is joined); OnMembership %s after POST /unban: %+v", ms(u.At.Sub(start)), u.V)
	} else {
		t.Logf("REPORT: Dendrite did not send the unban to our server within 1s (no user of ours is joined any more)")
	}
	if err := dave.invite(roomID, carol); err != nil {
		t.Fatalf("Dendrite could not invite %s after the unban: %v", carol, err)
	}
	if _, ok := o.invites.wait(waitTimeout, func(i homeserver.Invite) bool { return i.RoomID == roomID }); !ok {
		t.Fatalf("our OnInvite did not report the invite after the unban")
	}
	if err := o.srv.AcceptInvite(c, roomID, "carol"); err != nil {
		t.Fatalf("our AcceptInvite after the unban: %v", err)
	}
	if _, ok := waitAfter(dave.sync.feed, start, func(it syncItem) bool {
		return it.RoomID == roomID && it.Section == "join" && isMembership(carol, "join")(it.Event)
	}); !ok {
		t.Fatalf("Dendrite did not see %s join after the unban", carol)
	}
	r.messagesBothWays(t)
	// A plain rejoin of the public room works too.
	// (An immediate rejoin is TestRegression_LeaveThenRejoin.)
	if err := o.srv.Leave(c, roomID, "carol"); err != nil {
		t.Fatalf("our Leave: %v", err)
	}
	left := time.Now()
	if _, ok := waitAfter(dave.sync.feed, start, func(it syncItem) bool {
		return it.RoomID == roomID && isMembership(carol, "leave")(it.Event) && it.Event.Sender == carol
	}); !ok {
		t.Fatalf("Dendrite did not see %s leave", carol)
	}
	if err := o.srv.JoinRoom(c, roomID, "carol", []string{d.name}); err != nil {
		t.Fatalf("our JoinRoom after the unban and a leave: %v", err)
	}
	if _, ok := waitAfter(dave.sync.feed, left, func(it syncItem) bool {
		return it.RoomID == roomID && isMembership(carol, "join")(it.Event)
	}); !ok {
		t.Fatalf("Dendrite did not see %s rejoin", carol)
	}
	r.messagesBothWays(t)
}
