package rooms

import (
	"context"
	"fmt"

	"github.com/embedmatrix/homeserver/rooms/stateres"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
)

// resolve merges several states of a room into one with the room
// version's state resolution algorithm (rooms/stateres). It is the one
// place state resolution happens. Sets that agree on every key are merged
// by the resolver without loading any event.
func (e *Engine) resolve(ctx context.Context, v gomatrixserverlib.IRoomVersion, sets []stateSet) (stateSet, error) {
	switch len(sets) {
	case 0:
		return stateSet{}, nil
	case 1:
		return sets[0], nil
	}
	// A stateSet is a stateres.StateMap (same key type): handed over as
	// it is. Resolve does not modify the sets and returns a new map.
	in := make([]stateres.StateMap, len(sets))
	for i, s := range sets {
		in[i] = stateres.StateMap(s)
	}
	resolved, err := stateres.Resolve(ctx, string(v.Version()), in, &storeEvents{e: e, v: v})
	if err != nil {
		return nil, fmt.Errorf("rooms: state resolution: %w", err)
	}
	return stateSet(resolved), nil
}

// storeEvents feeds the resolver from the store: stateres.Events and
// stateres.Rejections.
type storeEvents struct {
	e *Engine
	v gomatrixserverlib.IRoomVersion
}

var (
	_ stateres.Events     = (*storeEvents)(nil)
	_ stateres.Rejections = (*storeEvents)(nil)
)

// Events loads the stored events among ids (parked ones are left out).
func (s *storeEvents) Events(ctx context.Context, ids []string) ([]gomatrixserverlib.PDU, error) {
	stored, err := s.e.cfg.Store.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]gomatrixserverlib.PDU, 0, len(stored))
	for _, ev := range stored {
		if ev.Status == storage.StatusParked {
			continue
		}
		p, err := pdu(s.v, ev)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Rejected lists the rejected events among ids.
func (s *storeEvents) Rejected(ctx context.Context, ids []string) ([]string, error) {
	stored, err := s.e.cfg.Store.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range stored {
		if ev.Status == storage.StatusRejected {
			out = append(out, ev.EventID)
		}
	}
	return out, nil
}
