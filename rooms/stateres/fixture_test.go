package stateres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"golang.org/x/crypto/ed25519"
)

// The fixed test signing identity. Every fixture and generated event is
// signed with it, so event IDs (reference hashes) are stable across runs.
var (
	testServer = spec.ServerName("example.com")
	testKeyID  = gomatrixserverlib.KeyID("ed25519:test")
	testKey    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5e}, ed25519.SeedSize))
)

// fixtureCase is one testdata/*.json file; see testdata/README.md.
type fixtureCase struct {
	RoomVersion string         `json:"room_version"`
	Reason      string         `json:"reason"`
	Kind        string         `json:"kind"`
	Events      []fixtureEvent `json:"events"`
	StateSets   [][]string     `json:"state_sets"`
	Sort        []string       `json:"sort"`
	Expected    []string       `json:"expected"`
	Power       map[string]any `json:"expected_power"`
	Gmsl        *fixtureGmsl   `json:"gomatrixserverlib"`
}

// fixtureGmsl records what gomatrixserverlib's spec-correct resolver does
// on a case where it disagrees with the spec, so that the test notices
// when the disagreement goes away, or on a case documenting that it
// agrees (Expected equal to the case's, no Quirks), so that the test
// notices when it stops agreeing.
type fixtureGmsl struct {
	Expected []string `json:"expected"`
	Panics   bool     `json:"panics"`
	Quirks   string   `json:"quirks"`
	Why      string   `json:"why"`
}

// fixtureEvent is the compact form of an event: names instead of event IDs.
type fixtureEvent struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
	Auth     []string        `json:"auth"`
	Prev     []string        `json:"prev"`
	TS       int64           `json:"ts"`
}

// builtRoom is a fixture expanded into real signed events.
type builtRoom struct {
	version string
	roomID  string
	byName  map[string]gomatrixserverlib.PDU
	names   map[string]string // event ID -> name
	order   []gomatrixserverlib.PDU
}

// readCase reads one testdata file.
func readCase(path string) (*fixtureCase, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c fixtureCase
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// loadFixtures reads every testdata/*.json file.
func loadFixtures(t testing.TB) map[string]*fixtureCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	out := map[string]*fixtureCase{}
	for _, f := range files {
		c, err := readCase(f)
		if err != nil {
			t.Fatal(err)
		}
		if c.Reason == "" {
			t.Fatalf("%s: no reason", f)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = c
	}
	return out
}

// buildRoom expands fixture events into signed events of the room version.
// Names in auth and prev refer to earlier events. prev defaults to the
// event listed just before; ts defaults to the event's position (1-based).
// In room version 12 the room ID is derived from the create event and
// auth lists must not name the create event.
func buildRoom(version string, evs []fixtureEvent) (*builtRoom, error) {
	v, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		return nil, err
	}
	room := &builtRoom{version: version, byName: map[string]gomatrixserverlib.PDU{}, names: map[string]string{}}
	if !v.DomainlessRoomIDs() {
		room.roomID = "!room:example.com"
	}
	depth := map[string]int64{}
	for i, fe := range evs {
		if _, dup := room.byName[fe.ID]; dup || fe.ID == "" {
			return nil, fmt.Errorf("event %d: missing or duplicate id %q", i, fe.ID)
		}
		ids := func(names []string, what string) ([]string, error) {
			out := []string{}
			for _, n := range names {
				ev, ok := room.byName[n]
				if !ok {
					return nil, fmt.Errorf("%s: %s names unknown event %q", fe.ID, what, n)
				}
				out = append(out, ev.EventID())
			}
			return out, nil
		}
		auth, err := ids(fe.Auth, "auth")
		if err != nil {
			return nil, err
		}
		prevNames := fe.Prev
		if prevNames == nil && i > 0 {
			prevNames = []string{evs[i-1].ID}
		}
		prev, err := ids(prevNames, "prev")
		if err != nil {
			return nil, err
		}
		d := int64(1)
		for _, p := range prevNames {
			if depth[p] >= d {
				d = depth[p] + 1
			}
		}
		depth[fe.ID] = d
		content := fe.Content
		if len(content) == 0 {
			content = json.RawMessage("{}")
		}
		isCreate := fe.Type == spec.MRoomCreate && fe.StateKey != nil && *fe.StateKey == ""
		if isCreate {
			var m map[string]any
			if err := json.Unmarshal(content, &m); err != nil {
				return nil, fmt.Errorf("%s: content: %w", fe.ID, err)
			}
			if _, ok := m["room_version"]; !ok {
				m["room_version"] = version
			}
			content, _ = json.Marshal(m)
		}
		if v.DomainlessRoomIDs() {
			for _, n := range fe.Auth {
				if e := room.byName[n]; e.Type() == spec.MRoomCreate {
					return nil, fmt.Errorf("%s: room version %s must not list the create event in auth", fe.ID, version)
				}
			}
		}
		roomID := room.roomID
		if isCreate && v.DomainlessRoomIDs() {
			roomID = ""
		}
		b := v.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
			SenderID: fe.Sender, RoomID: roomID, Type: fe.Type, StateKey: fe.StateKey,
			PrevEvents: prev, AuthEvents: auth, Depth: d, Content: spec.RawJSON(content),
		})
		ts := fe.TS
		if ts == 0 {
			ts = int64(i + 1)
		}
		ev, err := b.Build(time.UnixMilli(ts), testServer, testKeyID, testKey)
		if err != nil {
			return nil, fmt.Errorf("%s: build: %w", fe.ID, err)
		}
		if isCreate && v.DomainlessRoomIDs() {
			room.roomID = "!" + ev.EventID()[1:]
		}
		room.byName[fe.ID] = ev
		room.names[ev.EventID()] = fe.ID
		room.order = append(room.order, ev)
	}
	return room, nil
}

// stateOf turns a list of event names into a state map.
func (r *builtRoom) stateOf(names []string) (StateMap, error) {
	s := StateMap{}
	for _, n := range names {
		ev, ok := r.byName[n]
		if !ok {
			return nil, fmt.Errorf("unknown event %q", n)
		}
		if ev.StateKey() == nil {
			return nil, fmt.Errorf("%s is not a state event", n)
		}
		k := StateKey{ev.Type(), *ev.StateKey()}
		if _, dup := s[k]; dup {
			return nil, fmt.Errorf("two events for %v", k)
		}
		s[k] = ev.EventID()
	}
	return s, nil
}

// nameState renders a state map as sorted event names, for messages.
func (r *builtRoom) nameState(s StateMap) []string {
	var out []string
	for _, id := range s {
		if n, ok := r.names[id]; ok {
			out = append(out, n)
		} else {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// nameIDs renders event IDs as names.
func (r *builtRoom) nameIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if n, ok := r.names[id]; ok {
			out[i] = n
		}
	}
	return out
}

// events returns every built event as an Events source.
func (r *builtRoom) events() MapEvents { return NewMapEvents(r.order...) }
