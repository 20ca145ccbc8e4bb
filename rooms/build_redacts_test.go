package rooms

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// A redaction names its target at the top level before room version 11
// and in content.redacts from 11 on; from 11 on it is given at the top
// level too, for Dendrite v0.15.2, which reads only that key.
// https://spec.matrix.org/v1.16/rooms/v11/#moving-the-redacts-property-of-mroomredaction-events-to-a-content-property
func TestBuildRedactsKey(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Signer: Signer{ServerName: "us.test", KeyID: "ed25519:1", PrivateKey: key}})
	const target = "$target"
	cases := map[string]struct {
		version   gomatrixserverlib.RoomVersion
		inContent bool
	}{
		"v10: top level only":        {gomatrixserverlib.RoomVersionV10, false},
		"v11: content and top level": {gomatrixserverlib.RoomVersionV11, true},
		"v12: content and top level": {gomatrixserverlib.RoomVersionV12, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v := gomatrixserverlib.MustGetRoomVersion(c.version)
			ev, err := e.build(v, "!room:us.test", "@alice:us.test", spec.MRoomRedaction, nil,
				map[string]any{"redacts": target, "reason": "r"}, []string{"$prev"}, 3, nil, time.Now())
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			raw := ev.JSON()
			if got := gjson.GetBytes(raw, "redacts").Str; got != target {
				t.Errorf("top-level redacts %q, want %s: %s", got, target, raw)
			}
			if got := gjson.GetBytes(raw, "content.redacts"); got.Exists() != c.inContent || c.inContent && got.Str != target {
				t.Errorf("content.redacts %s (exists %t), want it %t: %s", got.Raw, got.Exists(), c.inContent, raw)
			}
			if got := RedactsOf(ev); got != target {
				t.Errorf("RedactsOf = %q, want %s", got, target)
			}
			if gjson.GetBytes(raw, "content.reason").Str != "r" {
				t.Errorf("the reason is lost: %s", raw)
			}
		})
	}
}
