package federation

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func child(roomID string, ts int64, content string) SpaceChild {
	return SpaceChild{Type: SpaceChildType, StateKey: roomID, Content: json.RawMessage(content), Sender: "@a:hs.test", OriginServerTS: ts}
}

// https://spec.matrix.org/v1.16/client-server-api/#ordering-of-children-within-a-space
func TestSpaceChildren(t *testing.T) {
	via := `"via":["hs.test"]`
	tests := map[string]struct {
		in            []SpaceChild
		suggestedOnly bool
		want          []string
	}{
		"the spec's ordering example": {
			in: []SpaceChild{
				child("!b:example.org", 1640341000000, `{"order":" ",`+via+`}`),
				child("!a:example.org", 1640141000000, `{"order":"aaaa",`+via+`}`),
				child("!c:example.org", 1640841000000, `{"order":"first",`+via+`}`),
				child("!e:example.org", 1640641000000, `{`+via+`}`),
				child("!d:example.org", 1640741000000, `{`+via+`}`),
			},
			want: []string{"!b:example.org", "!a:example.org", "!c:example.org", "!e:example.org", "!d:example.org"},
		},
		"equal orders fall back to timestamps, then room IDs": {
			in: []SpaceChild{
				child("!z:hs.test", 5, `{"order":"x",`+via+`}`),
				child("!y:hs.test", 9, `{"order":"x",`+via+`}`),
				child("!x:hs.test", 9, `{"order":"x",`+via+`}`),
			},
			want: []string{"!z:hs.test", "!x:hs.test", "!y:hs.test"},
		},
		"an invalid order is as though absent": {
			in: []SpaceChild{
				child("!long:hs.test", 1, `{"order":"`+strings.Repeat("a", 51)+`",`+via+`}`),
				child("!num:hs.test", 2, `{"order":7,`+via+`}`),
				child("!ctl:hs.test", 3, `{"order":"\u0007",`+via+`}`),
				child("!ok:hs.test", 4, `{"order":"~",`+via+`}`),
			},
			want: []string{"!ok:hs.test", "!long:hs.test", "!num:hs.test", "!ctl:hs.test"},
		},
		"links without a valid via are not children": {
			in: []SpaceChild{
				child("!none:hs.test", 1, `{}`),
				child("!empty:hs.test", 2, `{"via":[]}`),
				child("!notlist:hs.test", 3, `{"via":"hs.test"}`),
				child("!notstrings:hs.test", 4, `{"via":[1]}`),
				child("!notobject:hs.test", 5, `[]`),
				child("not-a-room", 6, `{`+via+`}`),
				{Type: "m.space.parent", StateKey: "!parent:hs.test", Content: json.RawMessage(`{` + via + `}`)},
				child("!ok:hs.test", 7, `{`+via+`}`),
			},
			want: []string{"!ok:hs.test"},
		},
		"suggested only": {
			in: []SpaceChild{
				child("!s:hs.test", 1, `{"suggested":true,`+via+`}`),
				child("!n:hs.test", 2, `{"suggested":false,`+via+`}`),
				child("!str:hs.test", 3, `{"suggested":"true",`+via+`}`),
				child("!absent:hs.test", 4, `{`+via+`}`),
			},
			suggestedOnly: true,
			want:          []string{"!s:hs.test"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, c := range SpaceChildren(tc.in, tc.suggestedOnly) {
				got = append(got, c.StateKey)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHierarchyVisible(t *testing.T) {
	tests := map[string]struct {
		room     PublicRoom
		originIn bool
		want     bool
	}{
		"public":                            {PublicRoom{JoinRule: "public"}, false, true},
		"knock":                             {PublicRoom{JoinRule: "knock"}, false, true},
		"invite-only, world readable":       {PublicRoom{JoinRule: "invite", WorldReadable: true}, false, true},
		"invite-only, origin not in it":     {PublicRoom{JoinRule: "invite"}, false, false},
		"invite-only, origin in it":         {PublicRoom{JoinRule: "invite"}, true, true},
		"restricted, origin not in it":      {PublicRoom{JoinRule: "restricted"}, false, false},
		"private (no join rule), not in it": {PublicRoom{}, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := HierarchyVisible(tc.room, tc.originIn); got != tc.want {
				t.Errorf("HierarchyVisible = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHierarchyJSONShape(t *testing.T) {
	h := Hierarchy{Room: HierarchyRoom{PublicRoom: PublicRoom{RoomID: "!s:hs.test", RoomType: SpaceRoomType, JoinRule: "public"}, RoomVersion: "10",
		ChildrenState: []SpaceChild{child("!c:hs.test", 3, `{"via":["hs.test"]}`)}}}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	room := got["room"]
	for _, k := range []string{"room_id", "num_joined_members", "world_readable", "guest_can_join", "room_type", "join_rule", "room_version", "children_state"} {
		if _, ok := room[k]; !ok {
			t.Errorf("room has no %s: %s", k, raw)
		}
	}
	cs, _ := room["children_state"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["origin_server_ts"] != float64(3) {
		t.Errorf("children_state = %v", room["children_state"])
	}
}
