package powerlevels

// These tests hold SetLevel to gomatrixserverlib.Allowed: for every case
// the content SetLevel returns is sent, in a room built from real signed
// events, by the sender, and must be allowed; a change SetLevel refuses is
// forced into an event anyway and must be rejected.

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

const testServer = "a.test"

var testKey = ed25519.NewKeyFromSeed([]byte("powerlevels test key, 32 bytes!!"))

// testRoom is a room built from signed events, with its current state.
type testRoom struct {
	t       *testing.T
	version gomatrixserverlib.IRoomVersion
	roomID  string
	state   []gomatrixserverlib.PDU
	prev    []string
	depth   int64
	now     time.Time
}

// newTestRoom builds a room of the given version: the create event (sent
// by creators[0], naming the others as additional_creators), the
// creators' joins, public join rules, the members' joins, and a first
// m.room.power_levels event with the given content.
func newTestRoom(t *testing.T, version string, creators, members []string, content json.RawMessage) *testRoom {
	t.Helper()
	v, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		t.Fatal(err)
	}
	r := &testRoom{t: t, version: v, now: time.UnixMilli(1_700_000_000_000)}
	create := map[string]any{"room_version": version}
	if v.CreatorInCreateEvent() {
		create["creator"] = creators[0]
	}
	if v.PrivilegedCreators() && len(creators) > 1 {
		create["additional_creators"] = creators[1:]
	}
	if !v.DomainlessRoomIDs() {
		r.roomID = "!room:" + testServer
	}
	r.mustSend(creators[0], spec.MRoomCreate, "", create)
	if v.DomainlessRoomIDs() {
		r.roomID = "!" + r.state[0].EventID()[1:]
	}
	r.mustSend(creators[0], spec.MRoomMember, creators[0], map[string]any{"membership": spec.Join})
	r.mustSend(creators[0], spec.MRoomJoinRules, "", map[string]any{"join_rule": spec.Public})
	joined := map[string]bool{creators[0]: true}
	for _, u := range append(slices.Clone(creators[1:]), members...) {
		if !joined[u] {
			joined[u] = true
			r.mustSend(u, spec.MRoomMember, u, map[string]any{"membership": spec.Join})
		}
	}
	r.mustSend(creators[0], spec.MRoomPowerLevels, "", content)
	return r
}

// build signs an event on top of the room, with auth events from its state.
func (r *testRoom) build(sender, typ, stateKey string, content any) gomatrixserverlib.PDU {
	r.t.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		r.t.Fatal(err)
	}
	prev := r.prev
	if prev == nil {
		prev = []string{}
	}
	roomID := r.roomID
	if typ == spec.MRoomCreate && r.version.DomainlessRoomIDs() {
		roomID = ""
	}
	b := r.version.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: roomID, Type: typ, StateKey: &stateKey,
		PrevEvents: prev, Depth: r.depth + 1, Content: raw,
	})
	if typ == spec.MRoomCreate {
		b.AuthEvents = []string{}
	} else if err := b.AddAuthEvents(r.provider()); err != nil {
		r.t.Fatal(err)
	}
	r.now = r.now.Add(time.Second)
	ev, err := b.Build(r.now, testServer, "ed25519:1", testKey)
	if err != nil {
		r.t.Fatalf("build %s by %s: %v", typ, sender, err)
	}
	return ev
}

func (r *testRoom) provider() *gomatrixserverlib.AuthEvents {
	p, err := gomatrixserverlib.NewAuthEvents(r.state)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// allowed runs the auth rules on ev against the room's current state.
func (r *testRoom) allowed(ev gomatrixserverlib.PDU) error {
	return gomatrixserverlib.Allowed(ev, r.provider(), func(_ spec.RoomID, s spec.SenderID) (*spec.UserID, error) {
		return spec.NewUserID(string(s), true)
	})
}

// mustSend builds an event, requires it to be allowed, and applies it.
func (r *testRoom) mustSend(sender, typ, stateKey string, content any) {
	r.t.Helper()
	ev := r.build(sender, typ, stateKey, content)
	if typ != spec.MRoomCreate {
		if err := r.allowed(ev); err != nil {
			r.t.Fatalf("setting up the room: %s by %s: %v", typ, sender, err)
		}
	}
	r.state = slices.DeleteFunc(r.state, func(e gomatrixserverlib.PDU) bool {
		return e.Type() == typ && e.StateKeyEquals(stateKey)
	})
	r.state = append(r.state, ev)
	r.prev = []string{ev.EventID()}
	r.depth++
}

// authCase is one case of testdata/setlevel.json.
type authCase struct {
	Versions []string        `json:"versions"`
	Creators []string        `json:"creators"`
	Content  json.RawMessage `json:"content"`
	Sender   string          `json:"sender"`
	Target   string          `json:"target"`
	Level    int64           `json:"level"`
	// Error is "" (allowed), "not_allowed", "creator" or "unchanged".
	Error string `json:"error"`
	// Rule says why, in the words of the auth rules.
	Rule string `json:"rule"`
	// Users, when given, is the expected "users" of the new content.
	Users map[string]any `json:"users"`
}

var authErrors = map[string]error{
	"not_allowed": ErrNotAllowed,
	"creator":     ErrCreator,
	"unchanged":   ErrUnchanged,
}

func TestSetLevelAgainstAuthRules(t *testing.T) {
	raw, err := os.ReadFile("testdata/setlevel.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]authCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		for _, version := range tc.Versions {
			t.Run(name+"/v"+version, func(t *testing.T) {
				room := Room{Version: version, Creators: tc.Creators}
				got, err := SetLevel(room, tc.Content, tc.Sender, tc.Target, tc.Level)
				if tc.Error == "" {
					if err != nil {
						t.Fatalf("SetLevel: %v (want allowed: %s)", err, tc.Rule)
					}
				} else if want := authErrors[tc.Error]; !errors.Is(err, want) {
					t.Fatalf("SetLevel = %s, %v; want %v (%s)", got, err, want, tc.Rule)
				}
				if tc.Users != nil {
					var c struct{ Users map[string]any }
					if err := json.Unmarshal(got, &c); err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(c.Users) != fmt.Sprint(tc.Users) {
						t.Errorf("users = %v, want %v", c.Users, tc.Users)
					}
				}
				crossCheck(t, room, tc.Content, tc.Sender, tc.Target, tc.Level, got, err)
			})
		}
	}
}

// crossCheck sends the change through gomatrixserverlib.Allowed: the
// content SetLevel returned must be allowed, a change it refused with
// ErrNotAllowed must be rejected.
func crossCheck(t *testing.T, room Room, content json.RawMessage, sender, target string, level int64, got json.RawMessage, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrNotAllowed) {
		return // ErrUnchanged: nothing to send
	}
	members := []string{sender, target}
	var c struct{ Users map[string]json.RawMessage }
	if err := json.Unmarshal(content, &c); err != nil {
		t.Fatal(err)
	}
	for u := range c.Users {
		members = append(members, u)
	}
	sort.Strings(members)
	r := newTestRoom(t, room.Version, room.Creators, members, content)
	if err == nil {
		if aerr := r.allowed(r.build(sender, spec.MRoomPowerLevels, "", got)); aerr != nil {
			t.Errorf("SetLevel allowed %s, gomatrixserverlib.Allowed rejects it: %v", got, aerr)
		}
		return
	}
	forced, ferr := withUserLevel(content, target, level, false)
	if ferr != nil {
		t.Fatal(ferr)
	}
	if aerr := r.allowed(r.build(sender, spec.MRoomPowerLevels, "", forced)); aerr == nil {
		t.Errorf("SetLevel refused (%v), gomatrixserverlib.Allowed accepts %s", err, forced)
	}
}

// TestSetLevelAgainstAuthRulesRandom compares SetLevel and
// gomatrixserverlib.Allowed on random rooms: random levels for a handful
// of users, users_default and the level needed to send power levels, and
// a random change by a random sender.
func TestSetLevelAgainstAuthRulesRandom(t *testing.T) {
	rounds := 150
	if testing.Short() {
		rounds = 20
	}
	levels := []int64{-5, 0, 10, 50, 75, 100, 101}
	users := []string{"@u0:a.test", "@u1:a.test", "@u2:b.test", "@u3:b.test", "@u4:[::1]:8448"}
	rng := rand.New(rand.NewPCG(12, 34))
	pick := func(xs []int64) int64 { return xs[rng.IntN(len(xs))] }
	for _, version := range []string{"9", "10", "11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			creators := []string{"@creator:a.test"}
			if version == "12" {
				creators = append(creators, "@cocreator:b.test")
			}
			allowed, refused := 0, 0
			for i := 0; i < rounds; i++ {
				listed := map[string]int64{}
				for _, u := range users {
					if rng.IntN(3) > 0 {
						listed[u] = pick(levels)
					}
				}
				if version != "12" && rng.IntN(2) == 0 {
					listed[creators[0]] = pick(levels)
				}
				content, err := json.Marshal(map[string]any{
					"users":         listed,
					"users_default": pick([]int64{0, 10}),
					"events":        map[string]int64{"m.room.power_levels": pick([]int64{0, 50, 100})},
				})
				if err != nil {
					t.Fatal(err)
				}
				everyone := append(slices.Clone(users), creators...)
				sender := everyone[rng.IntN(len(everyone))]
				target := everyone[rng.IntN(len(everyone))]
				level := pick(levels)
				room := Room{Version: version, Creators: creators}
				got, err := SetLevel(room, content, sender, target, level)
				switch {
				case err == nil:
					allowed++
				case errors.Is(err, ErrNotAllowed):
					refused++
				case errors.Is(err, ErrUnchanged):
				default:
					t.Fatalf("SetLevel(%s, %s, %s, %d): %v", content, sender, target, level, err)
				}
				crossCheck(t, room, content, sender, target, level, got, err)
				if t.Failed() {
					t.Fatalf("case: content %s, sender %s, target %s, level %d", content, sender, target, level)
				}
			}
			t.Logf("%d allowed, %d refused, %d unchanged", allowed, refused, rounds-allowed-refused)
			if allowed == 0 || refused == 0 {
				t.Errorf("the random cases did not exercise both outcomes")
			}
		})
	}
}

// The content DefaultContent makes is a valid first power_levels event, and
// in it the creators can send every event it names.
func TestDefaultContentAgainstAuthRules(t *testing.T) {
	for _, version := range []string{"10", "11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			creators := []string{"@alice:a.test", "@bob:b.test"}
			if version != "12" {
				creators = creators[:1]
			}
			room := Room{Version: version, Creators: creators}
			content, err := Default().DefaultContent(room)
			if err != nil {
				t.Fatal(err)
			}
			r := newTestRoom(t, version, creators, []string{"@mod:a.test", "@user:a.test"}, content)
			for _, c := range creators {
				for _, typ := range []string{spec.MRoomName, spec.MRoomTopic, spec.MRoomHistoryVisibility, "m.room.server_acl"} {
					if err := r.allowed(r.build(c, typ, "", map[string]any{})); err != nil {
						t.Errorf("%s cannot send %s: %v", c, typ, err)
					}
				}
			}
			// An ordinary member cannot send state.
			if err := r.allowed(r.build("@user:a.test", spec.MRoomName, "", map[string]any{"name": "x"})); err == nil {
				t.Error("a user can rename the room")
			}
			// The first creator makes @mod a moderator; then @mod may set the
			// topic but not the power levels.
			promoted, err := Default().SetRole(room, content, creators[0], "@mod:a.test", RoleModerator)
			if err != nil {
				t.Fatal(err)
			}
			r.mustSend(creators[0], spec.MRoomPowerLevels, "", promoted)
			if err := r.allowed(r.build("@mod:a.test", spec.MRoomTopic, "", map[string]any{"topic": "t"})); err != nil {
				t.Errorf("a moderator cannot set the topic: %v", err)
			}
			if _, err := Default().SetRole(room, promoted, "@mod:a.test", "@user:a.test", RoleModerator); !errors.Is(err, ErrNotAllowed) {
				t.Errorf("a moderator may change roles: %v", err)
			}
		})
	}
}
