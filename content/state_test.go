package content

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestParseCreate(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Create
	}{
		"v10 by us": {`{"room_version":"10","io.embedmatrix.kind":"dm"}`, Create{RoomVersion: "10", Kind: "dm"}},
		"v12 creators": {`{"room_version":"12","additional_creators":["@b:y","@c:z"]}`,
			Create{RoomVersion: "12", AdditionalCreators: []string{"@b:y", "@c:z"}}},
		"non-string creators skipped": {`{"additional_creators":["@b:y",7,null]}`, Create{AdditionalCreators: []string{"@b:y"}}},
		"creators not an array":       {`{"additional_creators":"@b:y"}`, Create{}},
		"space":                       {`{"type":"m.space"}`, Create{Type: "m.space"}},
		"kind key is not a path":      {`{"io":{"embedmatrix":{"kind":"dm"}}}`, Create{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCreate([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseCreate(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCreate(%s) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseNameTopic(t *testing.T) {
	tests := map[string]struct {
		in          string
		name, topic string
	}{
		"both":        {`{"name":"General","topic":"chat"}`, "General", "chat"},
		"empty":       {`{"name":"","topic":""}`, "", ""},
		"wrong types": {`{"name":1,"topic":true}`, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := ParseName([]byte(tc.in))
			if err != nil || n.Name != tc.name {
				t.Errorf("ParseName(%s) = %+v, %v; want %q", tc.in, n, err, tc.name)
			}
			tp, err := ParseTopic([]byte(tc.in))
			if err != nil || tp.Topic != tc.topic {
				t.Errorf("ParseTopic(%s) = %+v, %v; want %q", tc.in, tp, err, tc.topic)
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	sk := func(s string) *string { return &s }
	tests := map[string]struct {
		in   string
		want Event
	}{
		"state event": {`{"type":"m.room.member","room_id":"!r:x","sender":"@a:x","state_key":"@b:y","content":{"membership":"leave"}}`,
			Event{Type: "m.room.member", RoomID: "!r:x", Sender: "@a:x", StateKey: sk("@b:y"), Content: []byte(`{"membership":"leave"}`)}},
		"empty state key": {`{"type":"m.room.name","state_key":""}`, Event{Type: "m.room.name", StateKey: sk("")}},
		"message":         {`{"type":"m.room.message","content":{}}`, Event{Type: "m.room.message", Content: []byte(`{}`)}},
		"bad state key":   {`{"type":"m.room.member","state_key":5}`, Event{Type: "m.room.member"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseEvent([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseEvent(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseEvent(%s) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseStrippedState(t *testing.T) {
	in := `[{"type":"m.room.create","sender":"@a:x","state_key":"","content":{"io.embedmatrix.kind":"group"}},
		"junk", {"type":"m.room.name","state_key":"","content":{"name":"Team"}}]`
	evs, err := ParseStrippedState([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != "m.room.create" || evs[0].Sender != "@a:x" || evs[1].Type != "m.room.name" {
		t.Fatalf("ParseStrippedState = %+v", evs)
	}
	if c, _ := ParseCreate(evs[0].Content); c.Kind != "group" {
		t.Errorf("create kind = %q, want group", c.Kind)
	}
	for name, bad := range map[string]string{"object": `{}`, "truncated": `[{"type":`} {
		t.Run(name, func(t *testing.T) {
			if evs, err := ParseStrippedState([]byte(bad)); err == nil {
				t.Errorf("ParseStrippedState(%s) = %+v, want an error", bad, evs)
			}
		})
	}
}

func ExampleParseMember() {
	m, _ := ParseMember([]byte(`{"membership":"invite","is_direct":true,"reason":42}`))
	fmt.Printf("%s direct=%v reason=%q\n", m.Membership, m.IsDirect, m.Reason)
	// Output: invite direct=true reason=""
}

// Hostile input never panics, and whatever parses reads back the same way.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"m.room.member","state_key":"@a:x","content":{"membership":"join","is_direct":true}}`,
		`{"content":{"additional_creators":["@a:x",1]}}`, `[{"type":"m.room.name","content":{"name":"n"}}]`,
		`null`, `{}`, `{"content":`, `"x"`, `{"state_key":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := ParseEvent(raw)
		if err != nil {
			return
		}
		if _, err := ParseMember(ev.Content); err != nil && ev.Content != nil && !errors.Is(err, ErrNotObject) {
			t.Fatalf("ParseMember error %v does not match ErrNotObject", err)
		}
		_, _ = ParseCreate(ev.Content)
		_, _ = ParseName(ev.Content)
		_, _ = ParseTopic(ev.Content)
		_, _ = ParseStrippedState(raw)
		if again, err := ParseEvent(raw); err != nil || again.Type != ev.Type || again.RoomID != ev.RoomID {
			t.Fatalf("second parse differs: %+v, %v", again, err)
		}
	})
}
