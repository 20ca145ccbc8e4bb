package rooms

import (
	"context"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
)

// resolve merges several states of a room into one. It is the one place
// state resolution happens: the unconflicted case is answered here, the
// conflicted one by the room version's algorithm.
func (e *Engine) resolve(ctx context.Context, v gomatrixserverlib.IRoomVersion, sets []stateSet) (stateSet, error) {
	switch len(sets) {
	case 0:
		return stateSet{}, nil
	case 1:
		return sets[0], nil
	}
	// Spec: the unconflicted state map holds the keys that have the same
	// event in every set; every other key is conflicted.
	conflicted := false
	union := stateSet{}
	for i, s := range sets {
		for k, id := range s {
			if have, ok := union[k]; ok && have != id {
				conflicted = true
			}
			union[k] = id
		}
		if i > 0 && len(s) != len(sets[0]) {
			conflicted = true
		}
	}
	if !conflicted {
		for _, s := range sets[1:] {
			if len(s) != len(union) {
				conflicted = true
			}
		}
	}
	if !conflicted {
		return union, nil
	}
	return e.resolveConflicted(ctx, v, sets)
}

// resolveConflicted runs state resolution over sets that disagree.
// Until rooms/stateres lands this is gomatrixserverlib's resolver, guarded:
// it may panic on inputs it does not expect.
func (e *Engine) resolveConflicted(ctx context.Context, v gomatrixserverlib.IRoomVersion, sets []stateSet) (res stateSet, err error) {
	all := map[string]bool{}
	for _, s := range sets {
		for _, id := range s {
			all[id] = true
		}
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	stored, err := e.cfg.Store.Events(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("rooms: resolve: %w", err)
	}
	byID := map[string]gomatrixserverlib.PDU{}
	rejected := map[string]bool{}
	for _, s := range stored {
		p, err := pdu(v, s)
		if err != nil {
			return nil, err
		}
		byID[s.EventID] = p
		if s.Status == storage.StatusRejected {
			rejected[s.EventID] = true
		}
	}
	pduSets := make([][]gomatrixserverlib.PDU, len(sets))
	var conflictedEvents []gomatrixserverlib.PDU
	for i, s := range sets {
		for _, id := range s {
			if p, ok := byID[id]; ok {
				pduSets[i] = append(pduSets[i], p)
				conflictedEvents = append(conflictedEvents, p)
			}
		}
	}
	chain, err := e.authChain(ctx, v, conflictedEvents)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("rooms: state resolution failed: %v", p)
		}
	}()
	resolved, err := gomatrixserverlib.ResolveConflictsNew(v.Version(), pduSets, chain, UserIDForSender,
		func(id string) bool { return rejected[id] })
	if err != nil {
		return nil, fmt.Errorf("rooms: state resolution: %w", err)
	}
	out := stateSet{}
	for _, p := range resolved {
		if p.StateKey() != nil {
			out[skey{p.Type(), *p.StateKey()}] = p.EventID()
		}
	}
	return out, nil
}
