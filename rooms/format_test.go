package rooms

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/sjson"
)

// A PDU of each required field missing or of the wrong type is refused
// by Parse; the well-formed one parses, and EventIDOf names it as
// gomatrixserverlib does.
// https://spec.matrix.org/v1.16/rooms/v10/#event-format
func TestParseChecksPDUFormat(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"10", "11", "12"} {
		v, _ := Version(version)
		sk := ""
		good, err := v.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
			SenderID: "@alice:us.test", RoomID: "!r:us.test", Type: spec.MRoomTopic, StateKey: &sk,
			PrevEvents: []string{"$p"}, AuthEvents: []string{"$a"}, Depth: 3,
			Content: spec.RawJSON(`{"topic":"t"}`),
		}).Build(time.Now(), "us.test", "ed25519:1", key)
		if err != nil {
			t.Fatal(err)
		}
		set := func(path string, value any) []byte {
			b, err := sjson.SetBytes(good.JSON(), path, value)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		setRaw := func(path, raw string) []byte {
			b, err := sjson.SetRawBytes(good.JSON(), path, []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		del := func(path string) []byte {
			b, err := sjson.DeleteBytes(good.JSON(), path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		cases := map[string]struct {
			raw []byte
			ok  bool
		}{
			"well-formed":                  {good.JSON(), true},
			"no origin_server_ts":          {del("origin_server_ts"), false},
			"origin_server_ts a string":    {set("origin_server_ts", "1700000000000"), false},
			"origin_server_ts a float":     {setRaw("origin_server_ts", "1700000000000.5"), false},
			"origin_server_ts an exponent": {setRaw("origin_server_ts", "17e11"), false},
			"no depth":                     {del("depth"), false},
			"depth a string":               {set("depth", "3"), false},
			"no type":                      {del("type"), false},
			"type a number":                {set("type", 5), false},
			"no room_id":                   {del("room_id"), false},
			"no sender":                    {del("sender"), false},
			"no prev_events":               {del("prev_events"), false},
			"prev_events an object":        {setRaw("prev_events", `{}`), false},
			"no auth_events":               {del("auth_events"), false},
			"no content":                   {del("content"), false},
			"content an array":             {setRaw("content", `[]`), false},
			"no hashes":                    {del("hashes"), false},
			"hashes without sha256":        {setRaw("hashes", `{}`), false},
			"no signatures":                {del("signatures"), false},
			"state_key a number":           {set("state_key", 1), false},
			"not an object":                {[]byte(`[1]`), false},
		}
		for name, c := range cases {
			t.Run("v"+version+"/"+name, func(t *testing.T) {
				ev, err := Parse(version, c.raw)
				if !c.ok {
					if !errors.Is(err, ErrBadEvent) {
						t.Fatalf("Parse = %v, %v; want ErrBadEvent", ev, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				id, err := EventIDOf(version, c.raw)
				if err != nil || id != ev.EventID() {
					t.Fatalf("EventIDOf = %q, %v; want %q", id, err, ev.EventID())
				}
			})
		}
	}
}

// A v12 create event has no room_id and parses.
func TestParseV12CreateWithoutRoomID(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := Version("12")
	sk := ""
	create, err := v.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: "@alice:us.test", Type: spec.MRoomCreate, StateKey: &sk,
		PrevEvents: []string{}, AuthEvents: []string{}, Depth: 1,
		Content: spec.RawJSON(`{"room_version":"12"}`),
	}).Build(time.Now(), "us.test", "ed25519:1", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("12", create.JSON()); err != nil {
		t.Fatalf("v12 create event refused: %v", err)
	}
}
