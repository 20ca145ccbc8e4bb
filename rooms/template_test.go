package rooms

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

func TestSignTemplate(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Signer: Signer{ServerName: "us.test", KeyID: "ed25519:1", PrivateKey: key}})
	const room, user = "!r:them.test", "@alice:us.test"
	template := func(edit func(p *gomatrixserverlib.ProtoEvent)) gomatrixserverlib.ProtoEvent {
		sk := user
		p := gomatrixserverlib.ProtoEvent{SenderID: user, RoomID: room, Type: spec.MRoomMember, StateKey: &sk,
			PrevEvents: []string{"$prev"}, AuthEvents: []string{"$create"}, Depth: 7,
			Content: spec.RawJSON(`{"membership":"join","displayname":"from the template"}`)}
		if edit != nil {
			edit(&p)
		}
		return p
	}
	other := "@mallory:us.test"
	cases := map[string]struct {
		proto   gomatrixserverlib.ProtoEvent
		version string
		bad     error // nil: signed
	}{
		"leave":             {template(nil), "10", nil},
		"leave v12":         {template(nil), "12", nil},
		"other state key":   {template(func(p *gomatrixserverlib.ProtoEvent) { p.StateKey = &other }), "10", ErrBadEvent},
		"no state key":      {template(func(p *gomatrixserverlib.ProtoEvent) { p.StateKey = nil }), "10", ErrBadEvent},
		"other sender":      {template(func(p *gomatrixserverlib.ProtoEvent) { p.SenderID = other }), "10", ErrBadEvent},
		"other room":        {template(func(p *gomatrixserverlib.ProtoEvent) { p.RoomID = "!x:them.test" }), "10", ErrBadEvent},
		"other type":        {template(func(p *gomatrixserverlib.ProtoEvent) { p.Type = spec.MRoomPowerLevels }), "10", ErrBadEvent},
		"unsupported room":  {template(nil), "1", ErrUnsupportedRoomVersion},
		"unknown room kind": {template(nil), "nope", ErrUnsupportedRoomVersion},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ev, err := e.SignTemplate(c.version, c.proto, room, user, spec.Leave)
			if c.bad != nil {
				if !errors.Is(err, c.bad) {
					t.Fatalf("SignTemplate = %v, %v; want %v", ev, err, c.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m, _ := ev.Membership(); m != spec.Leave {
				t.Errorf("membership %q, want leave (the template's content is replaced)", m)
			}
			if got := gjson.GetBytes(ev.JSON(), "content.displayname"); got.Exists() {
				t.Errorf("the template's displayname survived: %s", got.Raw)
			}
			if ev.Depth() != 7 || len(ev.PrevEventIDs()) != 1 || ev.PrevEventIDs()[0] != "$prev" {
				t.Errorf("depth %d, prev %v: want the template's", ev.Depth(), ev.PrevEventIDs())
			}
			if !gjson.GetBytes(ev.JSON(), `signatures.us\.test.ed25519:1`).Exists() {
				t.Errorf("not signed with our key: %s", ev.JSON())
			}
		})
	}
}
