package stateres

import (
	"context"
	"testing"
)

func TestDebugGmsl(t *testing.T) {
	for name, c := range loadFixtures(t) {
		if c.Kind != "" && c.Kind != "resolve" {
			continue
		}
		room, err := buildRoom(c.RoomVersion, c.Events)
		if err != nil {
			t.Fatal(err)
		}
		sets := caseSets(t, c, room)
		ours, _ := Resolve(context.Background(), c.RoomVersion, sets, room.events())
		gm, err := gmslResolve(c.RoomVersion, sets, room.order)
		t.Logf("%s\n ours %v\n gmsl %v %v", name, room.nameState(ours), room.nameState(gm), err)
	}
}
