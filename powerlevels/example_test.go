package powerlevels_test

import (
	"fmt"

	"github.com/embedmatrix/homeserver/powerlevels"
)

// A host with a "leader" role between moderator and owner creates a room,
// makes a remote user a leader, and learns of a change made by another
// server.
func Example() {
	roles, err := powerlevels.NewMapping(map[powerlevels.Role]int64{"leader": 75})
	if err != nil {
		panic(err)
	}
	room := powerlevels.Room{Version: "11", Creators: []string{"@alice:chat.example"}}

	content, err := roles.DefaultContent(room)
	if err != nil {
		panic(err)
	}

	// alice (owner, 100) makes bob a leader.
	promoted, err := roles.SetRole(room, content, "@alice:chat.example", "@bob:matrix.example:8448", "leader")
	if err != nil {
		panic(err)
	}
	changes, _ := roles.Diff(room, content, promoted, nil)
	fmt.Printf("%+v\n", changes)

	// bob (75) may not make carol an owner (100): refused before sending.
	_, err = roles.SetRole(room, promoted, "@bob:matrix.example:8448", "@carol:[2001:db8::1]", powerlevels.RoleOwner)
	fmt.Println(err)

	// A power_levels event arrives from bob's server: users_default rose to
	// 60, and bob is at 99. Every member not listed becomes a moderator.
	inbound := []byte(`{"users": {"@alice:chat.example": 100, "@bob:matrix.example:8448": 99},
		"users_default": 60, "events": {"m.room.power_levels": 100}}`)
	members := []string{"@alice:chat.example", "@bob:matrix.example:8448", "@dave:chat.example"}
	changes, _ = roles.Diff(room, promoted, inbound, members)
	for _, c := range changes {
		fmt.Printf("%s: %s (%d) -> %s (%d)\n", c.UserID, c.OldRole, c.OldLevel, c.NewRole, c.NewLevel)
	}
	// Output:
	// [{UserID:@bob:matrix.example:8448 OldLevel:0 NewLevel:75 OldRole:user NewRole:leader}]
	// powerlevels: not allowed by the auth rules: @bob:matrix.example:8448 has level 75, sending m.room.power_levels needs 100
	// @dave:chat.example: user (0) -> moderator (60)
}

func ExampleMapping_RoleFor() {
	m := powerlevels.Default()
	for _, level := range []int64{-5, 0, 49, 50, 60, 99, 100, powerlevels.CreatorLevel} {
		fmt.Println(level, m.RoleFor(level))
	}
	// Output:
	// -5 user
	// 0 user
	// 49 user
	// 50 moderator
	// 60 moderator
	// 99 moderator
	// 100 owner
	// 9007199254740992 owner
}
