package interop

import (
	"encoding/json"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestScenario07_RoleChanges: role changes both directions.
//   - Our owner makes the Dendrite user a moderator (SetRole, power 50):
//     Dendrite's /sync and /state show the new power levels, and Dendrite
//     lets that user set the topic (it refused before), which our host
//     then receives (OnRoomTopic).
//   - A Dendrite admin (the room's creator) raises our user's power level
//     to 50 (PUT /state/m.room.power_levels): our host gets
//     Hooks.OnRoleChange (user -> moderator) and Role() says moderator;
//     our user may then set the topic, and Dendrite accepts it.
func TestScenario07_RoleChanges(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			t.Run("OursToDendrite", func(t *testing.T) {
				r, _ := scenario1(t, v)
				ourRoleChange(t, r)
			})
			t.Run("DendriteToOurs", func(t *testing.T) {
				r, _ := scenario2(t, v)
				dendriteRoleChange(t, r)
			})
		})
	}
}

// usersLevels reads the users map of a power-levels content.
func usersLevels(content json.RawMessage) map[string]int64 {
	var c struct {
		Users map[string]int64 `json:"users"`
	}
	_ = json.Unmarshal(content, &c)
	return c.Users
}

func ourRoleChange(t *testing.T, r *room) {
	bob, c := r.remote, ctx(t)
	if _, err := bob.putState(r.id, "m.room.topic", "", map[string]any{"topic": "before promotion"}); err == nil {
		t.Errorf("Dendrite let %s (power 0) set the topic before the promotion", bob.UserID)
	} else {
		t.Logf("before the promotion Dendrite refuses %s's topic change: %v", bob.UserID, err)
	}
	start := time.Now()
	if err := r.o.srv.SetRole(c, r.id, r.local, bob.UserID, "moderator"); err != nil {
		t.Fatalf("our SetRole(%s, moderator): %v", bob.UserID, err)
	}
	pl, ok := bob.waitTimeline(r.id, func(e event) bool {
		return e.Type == "m.room.power_levels" && usersLevels(e.Content)[bob.UserID] == 50
	})
	if !ok {
		t.Fatalf("Dendrite's /sync showed no power levels with %s at 50 within %s", bob.UserID, waitTimeout)
	}
	t.Logf("Dendrite's /sync showed the new power levels %s after SetRole: %s", ms(pl.At.Sub(start)), pl.V.Event.Content)
	st, err := bob.stateContent(r.id, "m.room.power_levels", "")
	if err != nil {
		t.Fatalf("Dendrite GET /state/m.room.power_levels: %v", err)
	}
	if lvl := usersLevels(st)[bob.UserID]; lvl != 50 {
		t.Errorf("Dendrite's /state power levels give %s %d, want 50: %s", bob.UserID, lvl, st)
	}
	if role, err := r.o.srv.Role(c, r.id, bob.UserID); err != nil || role != "moderator" {
		t.Errorf("our Role(%s) = %q, %v; want moderator", bob.UserID, role, err)
	}
	// The promotion is effective on both sides.
	topic := "set by the new moderator " + randomString(4)
	evID, err := bob.putState(r.id, "m.room.topic", "", map[string]any{"topic": topic})
	if err != nil {
		t.Fatalf("Dendrite refused the topic change of %s, now a moderator: %v", bob.UserID, err)
	}
	if _, ok := r.o.topics.wait(waitTimeout, func(x homeserver.RoomChange) bool { return x.EventID == evID && x.Value == topic }); !ok {
		t.Errorf("our OnRoomTopic did not report the moderator's topic %s", evID)
	}
}

func dendriteRoleChange(t *testing.T, r *room) {
	dave, c := r.remote, ctx(t)
	carol := r.o.userID(r.local)
	if err := r.o.srv.SetRoomTopic(c, r.id, r.local, "before promotion"); err == nil {
		t.Errorf("our SetRoomTopic let %s (power 0) set the topic", carol)
	}
	raw, err := dave.stateContent(r.id, "m.room.power_levels", "")
	if err != nil {
		t.Fatalf("Dendrite GET /state/m.room.power_levels: %v", err)
	}
	var content map[string]any
	if err := json.Unmarshal(raw, &content); err != nil {
		t.Fatal(err)
	}
	users, _ := content["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
	}
	oldLevel := usersLevels(raw)[carol]
	users[carol] = 50
	content["users"] = users
	start := time.Now()
	evID, err := dave.putState(r.id, "m.room.power_levels", "", content)
	if err != nil {
		t.Fatalf("Dendrite PUT /state/m.room.power_levels: %v", err)
	}
	rc, ok := r.o.roles.wait(waitTimeout, func(x homeserver.RoleChange) bool { return x.RoomID == r.id && x.UserID == carol })
	if !ok {
		t.Fatalf("our OnRoleChange did not report %s's new level within %s (saw %v)", carol, waitTimeout, r.o.roles.all())
	}
	t.Logf("our OnRoleChange fired %s after Dendrite's PUT: %+v", ms(rc.At.Sub(start)), rc.V)
	want := homeserver.RoleChange{RoomID: r.id, EventID: evID, Sender: dave.UserID, UserID: carol,
		OldRole: "user", NewRole: "moderator", OldLevel: oldLevel, NewLevel: 50}
	if rc.V != want {
		t.Errorf("OnRoleChange = %+v, want %+v", rc.V, want)
	}
	if role, err := r.o.srv.Role(c, r.id, carol); err != nil || role != "moderator" {
		t.Errorf("our Role(%s) = %q, %v; want moderator", carol, role, err)
	}
	// The promotion is effective on both sides.
	topic := "set by our new moderator " + randomString(4)
	if err := r.o.srv.SetRoomTopic(c, r.id, r.local, topic); err != nil {
		t.Fatalf("our SetRoomTopic as a moderator: %v", err)
	}
	e, ok := dave.waitTimeline(r.id, func(e event) bool { return e.Type == "m.room.topic" && e.str("topic") == topic })
	if !ok {
		t.Fatalf("Dendrite's /sync did not show our moderator's topic within %s", waitTimeout)
	}
	if e.V.Event.Sender != carol {
		t.Errorf("Dendrite shows the topic from %s, want %s", e.V.Event.Sender, carol)
	}
	st, err := dave.state(r.id)
	if err != nil {
		t.Fatalf("Dendrite /state: %v", err)
	}
	if got, _ := findState(st, "m.room.topic", ""); got.str("topic") != topic {
		t.Errorf("Dendrite's current topic is %q, want %q (did it reject ours?)", got.str("topic"), topic)
	}
}
