package stateres

import (
	"context"
	"encoding/json"
	"fmt"
)

// ExampleResolve resolves two forks of a room (testdata/v2_join_rule_evasion.json):
// Alice made the room invite-only on one while Evelyn joined on the other.
func ExampleResolve() {
	c, err := readCase("testdata/v2_join_rule_evasion.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	room, err := buildRoom(c.RoomVersion, c.Events) // real signed events
	if err != nil {
		fmt.Println(err)
		return
	}
	var sets []StateMap
	for _, names := range c.StateSets {
		s, _ := room.stateOf(names)
		sets = append(sets, s)
	}

	// The events come from any Events source; MapEvents keeps them in memory.
	resolved, err := Resolve(context.Background(), "10", sets, NewMapEvents(room.order...))
	if err != nil {
		fmt.Println(err)
		return
	}

	jr := room.byName[room.names[resolved[StateKey{"m.room.join_rules", ""}]]]
	var content struct {
		JoinRule string `json:"join_rule"`
	}
	_ = json.Unmarshal(jr.Content(), &content)
	_, evelyn := resolved[StateKey{"m.room.member", "@evelyn:example.com"}]
	fmt.Println("join rule:", content.JoinRule)
	fmt.Println("Evelyn in the room:", evelyn)
	// Output:
	// join rule: invite
	// Evelyn in the room: false
}
