package rooms

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/embedmatrix/homeserver/rooms/stateres"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// skey is an event (type, state_key). It is stateres's key, so that a
// stateSet is handed to the resolver as it is, without a copy.
type skey = stateres.StateKey

// stateSet is a room state: which event holds each (type, state_key).
// Sets read from snapshots are shared through the cache: never modify one,
// copy it (clone) first.
type stateSet map[skey]string

func (s stateSet) clone() stateSet {
	out := make(stateSet, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	return out
}

// with returns a copy of s with ev holding its (type, state_key), or s
// itself for a non-state event.
func (s stateSet) with(ev gomatrixserverlib.PDU) stateSet {
	if ev.StateKey() == nil {
		return s
	}
	out := s.clone()
	out[skey{Type: ev.Type(), StateKey: *ev.StateKey()}] = ev.EventID()
	return out
}

func (s stateSet) ids() []string {
	out := make([]string, 0, len(s))
	for _, id := range s {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// diff returns the entries that turn from into to (empty EventID removes).
func diff(from, to stateSet) []storage.StateEntry {
	var out []storage.StateEntry
	for k, v := range to {
		if from[k] != v {
			out = append(out, storage.StateEntry{Type: k.Type, StateKey: k.StateKey, EventID: v})
		}
	}
	for k := range from {
		if _, ok := to[k]; !ok {
			out = append(out, storage.StateEntry{Type: k.Type, StateKey: k.StateKey})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].StateKey < out[j].StateKey
	})
	return out
}

// snapshotCache keeps recently used snapshots: they are immutable, so a
// cached copy never goes stale.
type snapshotCache struct {
	mu     sync.Mutex
	sets   map[int64]stateSet
	joined map[int64][]string
}

const snapshotCacheSize = 512

func (c *snapshotCache) get(id int64) (stateSet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sets[id]
	return s, ok
}

func (c *snapshotCache) put(id int64, s stateSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil || len(c.sets) >= snapshotCacheSize {
		c.sets = map[int64]stateSet{}
		c.joined = map[int64][]string{}
	}
	c.sets[id] = s
}

// snapshot returns the state of a snapshot.
func (e *Engine) snapshot(ctx context.Context, id int64) (stateSet, error) {
	if id == 0 {
		return nil, fmt.Errorf("rooms: no state snapshot (outlier)")
	}
	if s, ok := e.snaps.get(id); ok {
		return s, nil
	}
	entries, err := e.cfg.Store.Snapshot(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rooms: load state snapshot %d: %w", id, err)
	}
	s := make(stateSet, len(entries))
	for _, en := range entries {
		s[skey{Type: en.Type, StateKey: en.StateKey}] = en.EventID
	}
	e.snaps.put(id, s)
	return s, nil
}

// saveSnapshot stores set as a delta over parent (whose state is
// parentSet; parent 0 means a full snapshot) and returns its ID.
func (e *Engine) saveSnapshot(ctx context.Context, roomID string, parent int64, parentSet, set stateSet) (int64, error) {
	var delta []storage.StateEntry
	if parent == 0 {
		delta = diff(nil, set)
	} else {
		delta = diff(parentSet, set)
		if len(delta) == 0 {
			return parent, nil
		}
	}
	id, err := e.cfg.Store.WriteSnapshot(ctx, roomID, parent, delta)
	if err != nil {
		return 0, fmt.Errorf("rooms: store state snapshot: %w", err)
	}
	e.snaps.put(id, set)
	return id, nil
}

// allStatePDUs loads every event of a state.
func (e *Engine) allStatePDUs(ctx context.Context, v gomatrixserverlib.IRoomVersion, set stateSet) ([]gomatrixserverlib.PDU, error) {
	return e.loadPDUs(ctx, v, set.ids())
}

// statePDUs loads the events holding the given keys of a state (none for
// no keys).
func (e *Engine) statePDUs(ctx context.Context, v gomatrixserverlib.IRoomVersion, set stateSet, keys []skey) ([]gomatrixserverlib.PDU, error) {
	var ids []string
	for _, k := range keys {
		if id, ok := set[k]; ok {
			ids = append(ids, id)
		}
	}
	return e.loadPDUs(ctx, v, ids)
}

// loadPDUs loads stored events as PDUs.
func (e *Engine) loadPDUs(ctx context.Context, v gomatrixserverlib.IRoomVersion, ids []string) ([]gomatrixserverlib.PDU, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	stored, err := e.judgedEvents(ctx, v, ids)
	if err != nil {
		return nil, err
	}
	out := make([]gomatrixserverlib.PDU, len(stored))
	for i, s := range stored {
		out[i] = s.pdu
	}
	return out, nil
}

// authState loads from set only the events the auth rules need for ev
// (create, power levels, join rules, sender's and target's membership...).
func (e *Engine) authState(ctx context.Context, v gomatrixserverlib.IRoomVersion, set stateSet, ev gomatrixserverlib.PDU) ([]gomatrixserverlib.PDU, error) {
	needed := gomatrixserverlib.StateNeededForAuth([]gomatrixserverlib.PDU{ev})
	keys := []skey{{Type: spec.MRoomCreate, StateKey: ""}}
	for _, t := range needed.Tuples() {
		keys = append(keys, skey{Type: t.EventType, StateKey: t.StateKey})
	}
	return e.statePDUs(ctx, v, set, keys)
}

// joinedServersOf lists the servers with a joined member in a snapshot.
func (e *Engine) joinedServersOf(ctx context.Context, v gomatrixserverlib.IRoomVersion, id int64) ([]string, error) {
	e.snaps.mu.Lock()
	if j, ok := e.snaps.joined[id]; ok {
		e.snaps.mu.Unlock()
		return j, nil
	}
	e.snaps.mu.Unlock()
	set, err := e.snapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	var keys []skey
	for k := range set {
		if k.Type == spec.MRoomMember {
			keys = append(keys, k)
		}
	}
	members, err := e.statePDUs(ctx, v, set, keys)
	if err != nil {
		return nil, err
	}
	j := joinedServers(members)
	if len(members) == len(keys) {
		// Cache only a complete answer: a member event not stored yet
		// (being committed with this very snapshot) would be missing.
		e.snaps.mu.Lock()
		if e.snaps.joined != nil {
			e.snaps.joined[id] = j
		}
		e.snaps.mu.Unlock()
	}
	return j, nil
}
