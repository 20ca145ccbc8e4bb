package interop

import (
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// TestScenario05_NameAndTopic: name and topic edits both directions. Our
// owner renames the room and changes its topic (SetRoomName,
// SetRoomTopic): Dendrite's /sync timeline shows both events and its
// /state holds the new values. A Dendrite room creator does the same
// (PUT /state/m.room.name, /state/m.room.topic): our host gets
// Hooks.OnRoomName and OnRoomTopic, and Room() shows the new values.
func TestScenario05_NameAndTopic(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			t.Run("OursToDendrite", func(t *testing.T) {
				r, _ := scenario1(t, v)
				ourNameTopic(t, r)
			})
			t.Run("DendriteToOurs", func(t *testing.T) {
				r, _ := scenario2(t, v)
				dendriteNameTopic(t, r)
			})
		})
	}
}

func ourNameTopic(t *testing.T, r *room) {
	c := ctx(t)
	alice := r.o.userID(r.local)
	name, topic := "renamed by us "+randomString(4), "new topic from us "+randomString(4)
	start := time.Now()
	if err := r.o.srv.SetRoomName(c, r.id, r.local, name); err != nil {
		t.Fatalf("our SetRoomName: %v", err)
	}
	if err := r.o.srv.SetRoomTopic(c, r.id, r.local, topic); err != nil {
		t.Fatalf("our SetRoomTopic: %v", err)
	}
	n, ok := r.remote.waitTimeline(r.id, func(e event) bool { return e.Type == "m.room.name" && e.str("name") == name })
	if !ok {
		t.Fatalf("Dendrite's /sync did not show the new name %q within %s", name, waitTimeout)
	}
	tp, ok := r.remote.waitTimeline(r.id, func(e event) bool { return e.Type == "m.room.topic" && e.str("topic") == topic })
	if !ok {
		t.Fatalf("Dendrite's /sync did not show the new topic %q within %s", topic, waitTimeout)
	}
	t.Logf("Dendrite's /sync showed the name after %s, the topic after %s", ms(n.At.Sub(start)), ms(tp.At.Sub(start)))
	for _, e := range []event{n.V.Event, tp.V.Event} {
		if e.Sender != alice {
			t.Errorf("Dendrite shows %s from %s, want %s", e.Type, e.Sender, alice)
		}
	}
	st, err := r.remote.state(r.id)
	if err != nil {
		t.Fatalf("Dendrite /state: %v", err)
	}
	if e, _ := findState(st, "m.room.name", ""); e.str("name") != name {
		t.Errorf("Dendrite's /state has name %q, want %q", e.str("name"), name)
	}
	if e, _ := findState(st, "m.room.topic", ""); e.str("topic") != topic {
		t.Errorf("Dendrite's /state has topic %q, want %q", e.str("topic"), topic)
	}
}

func dendriteNameTopic(t *testing.T, r *room) {
	dave := r.remote
	name, topic := "renamed on Dendrite "+randomString(4), "new topic from Dendrite "+randomString(4)
	start := time.Now()
	nameID, err := dave.putState(r.id, "m.room.name", "", map[string]any{"name": name})
	if err != nil {
		t.Fatalf("Dendrite PUT m.room.name: %v", err)
	}
	topicID, err := dave.putState(r.id, "m.room.topic", "", map[string]any{"topic": topic})
	if err != nil {
		t.Fatalf("Dendrite PUT m.room.topic: %v", err)
	}
	n, ok := r.o.names.wait(waitTimeout, func(c homeserver.RoomChange) bool { return c.RoomID == r.id && c.Value == name })
	if !ok {
		t.Fatalf("our OnRoomName did not report %q within %s (saw %v)", name, waitTimeout, r.o.names.all())
	}
	tp, ok := r.o.topics.wait(waitTimeout, func(c homeserver.RoomChange) bool { return c.RoomID == r.id && c.Value == topic })
	if !ok {
		t.Fatalf("our OnRoomTopic did not report %q within %s (saw %v)", topic, waitTimeout, r.o.topics.all())
	}
	t.Logf("our OnRoomName fired after %s, OnRoomTopic after %s", ms(n.At.Sub(start)), ms(tp.At.Sub(start)))
	if n.V.Sender != dave.UserID || n.V.EventID != nameID {
		t.Errorf("OnRoomName: %+v, want event %s from %s", n.V, nameID, dave.UserID)
	}
	if tp.V.Sender != dave.UserID || tp.V.EventID != topicID {
		t.Errorf("OnRoomTopic: %+v, want event %s from %s", tp.V, topicID, dave.UserID)
	}
	sum, err := r.o.srv.Room(ctx(t), r.id)
	if err != nil {
		t.Fatalf("our Room: %v", err)
	}
	if sum.Name != name || sum.Topic != topic {
		t.Errorf("our Room() shows name %q topic %q, want %q and %q", sum.Name, sum.Topic, name, topic)
	}
}
