package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Remote fetches from another server what a room is missing. The
// federation client implements it.
type Remote interface {
	// MissingEvents asks server for the events between earliest (what we
	// have) and latest (what we received): POST /get_missing_events.
	MissingEvents(ctx context.Context, server spec.ServerName, roomID string, earliest, latest []string, limit int, minDepth int64) ([]json.RawMessage, error)
	// StateIDs asks server for the state before an event and its auth
	// chain, as event IDs: GET /state_ids.
	StateIDs(ctx context.Context, server spec.ServerName, roomID, eventID string) (state, authChain []string, err error)
	// Event fetches one event: GET /event.
	Event(ctx context.Context, server spec.ServerName, eventID string) (json.RawMessage, error)
	// Backfill asks server for history before the given events: GET /backfill.
	Backfill(ctx context.Context, server spec.ServerName, roomID string, from []string, limit int) ([]json.RawMessage, error)
}

// Gap-filling limits.
const (
	missingEventsLimit = 100  // events asked for in one get_missing_events
	maxGapEvents       = 1000 // events fetched to close one gap
	maxGapRounds       = 20   // get_missing_events calls for one gap
	maxFetchedOutliers = 2000 // events fetched for one state_ids fallback
)

// ErrParked is returned for an event whose prev events could not be
// fetched: it is stored as parked and checked again when one arrives.
var ErrParked = errors.New("rooms: prev events missing; event parked")

// prevState returns the stored prev events of ev that have a state, and
// the IDs of those that are missing or are outliers.
func (e *Engine) prevState(ctx context.Context, ev gomatrixserverlib.PDU) ([]storage.Event, []string, error) {
	stored, err := e.cfg.Store.Events(ctx, ev.PrevEventIDs())
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: load prev events: %w", err)
	}
	have := map[string]storage.Event{}
	for _, s := range stored {
		if s.StateAfter != 0 {
			have[s.EventID] = s
		}
	}
	var known []storage.Event
	var missing []string
	for _, id := range uniq(ev.PrevEventIDs()) {
		if s, ok := have[id]; ok {
			known = append(known, s)
		} else {
			missing = append(missing, id)
		}
	}
	return known, missing, nil
}

// fillGap asks origin for the events between our forward extremities and
// ev, round after round until the gap closes (or maxGapEvents), and takes
// them in oldest first, so the host hears of them in order.
// https://spec.matrix.org/v1.16/server-server-api/#post_matrixfederationv1get_missing_eventsroomid
func (e *Engine) fillGap(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string, ev gomatrixserverlib.PDU, origin spec.ServerName) {
	exts, err := e.cfg.Store.ForwardExtremities(ctx, roomID)
	if err != nil {
		return
	}
	// No depth floor: in a fork the missing events can be shallower than
	// our own extremities. The walk stops at our extremities (earliest) and
	// at the limits.
	const minDepth = 0
	collected := map[string]gomatrixserverlib.PDU{}
	latest := []string{ev.EventID()}
	for round := 0; len(latest) > 0 && len(collected) < maxGapEvents && round < maxGapRounds; round++ {
		raws, err := e.cfg.Remote.MissingEvents(ctx, origin, roomID, exts, latest, missingEventsLimit, minDepth)
		if err != nil {
			e.log.Info("get_missing_events failed", "origin", origin, "room_id", roomID, "err", err)
			break
		}
		added := 0
		for _, raw := range raws {
			m, err := Parse(string(v.Version()), raw)
			if err != nil || m.RoomID().String() != roomID || m.EventID() == ev.EventID() || collected[m.EventID()] != nil {
				continue
			}
			collected[m.EventID()] = m
			added++
		}
		if added == 0 {
			break
		}
		// The next round asks for what lies before the collected events
		// whose prev events are still unknown (get_missing_events leaves
		// the latest events themselves out of its answer).
		var frontier []string
		for _, m := range collected {
			for _, p := range m.PrevEventIDs() {
				if collected[p] == nil {
					frontier = append(frontier, p)
				}
			}
		}
		stored, err := e.cfg.Store.Events(ctx, uniq(frontier))
		if err != nil {
			break
		}
		have := map[string]bool{}
		for _, s := range stored {
			if s.StateAfter != 0 {
				have[s.EventID] = true
			}
		}
		latest = latest[:0]
		for id, m := range collected {
			for _, p := range m.PrevEventIDs() {
				if collected[p] == nil && !have[p] {
					latest = append(latest, id)
					break
				}
			}
		}
		sort.Strings(latest)
		if len(latest) > MaxPrevEvents {
			latest = latest[:MaxPrevEvents]
		}
	}
	e.log.Debug("gap filled", "event_id", ev.EventID(), "collected", len(collected), "still_missing", len(latest))
	evs := make([]gomatrixserverlib.PDU, 0, len(collected))
	for _, m := range collected {
		evs = append(evs, m)
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Depth() != evs[j].Depth() {
			return evs[i].Depth() < evs[j].Depth()
		}
		return evs[i].EventID() < evs[j].EventID()
	})
	for _, m := range evs {
		if err := e.VerifySignatures(ctx, m); err != nil {
			e.log.Info("dropping missing event with a bad signature", "event_id", m.EventID(), "err", err)
			continue
		}
		if err := e.ingest(ctx, v, m, origin, false); err != nil && !errors.Is(err, ErrNotAllowed) {
			e.log.Info("could not take in missing event", "event_id", m.EventID(), "err", err)
		}
	}
}

// stateFromRemote asks origin for the state before ev (/state_ids), fetches
// and checks what we lack of it and of its auth chain as outliers, and
// returns it resolved with the states of the prev events we do know.
func (e *Engine) stateFromRemote(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string, ev gomatrixserverlib.PDU, origin spec.ServerName, known []storage.Event) (int64, stateSet, error) {
	stateIDs, authIDs, err := e.cfg.Remote.StateIDs(ctx, origin, roomID, ev.EventID())
	if err != nil {
		return 0, nil, fmt.Errorf("rooms: state_ids from %s: %w", origin, err)
	}
	if len(stateIDs)+len(authIDs) > maxFetchedOutliers*4 {
		return 0, nil, fmt.Errorf("%w: state_ids answer too large", ErrBadEvent)
	}
	if err := e.fetchOutliers(ctx, v, roomID, origin, append(uniq(stateIDs), authIDs...)); err != nil {
		return 0, nil, err
	}
	stored, err := e.cfg.Store.Events(ctx, stateIDs)
	if err != nil {
		return 0, nil, err
	}
	remote := stateSet{}
	for _, s := range stored {
		if s.Status == storage.StatusAccepted && s.StateKey != nil && s.RoomID == roomID {
			remote[skey{Type: s.Type, StateKey: *s.StateKey}] = s.EventID
		}
	}
	if _, ok := remote[skey{Type: spec.MRoomCreate, StateKey: ""}]; !ok {
		return 0, nil, fmt.Errorf("rooms: state from %s has no usable create event", origin)
	}
	sets := []stateSet{remote}
	for _, k := range known {
		s, err := e.snapshot(ctx, k.StateAfter)
		if err != nil {
			return 0, nil, err
		}
		sets = append(sets, s)
	}
	resolved, err := e.resolve(ctx, v, sets)
	if err != nil {
		return 0, nil, err
	}
	id, err := e.saveSnapshot(ctx, roomID, 0, nil, resolved)
	return id, resolved, err
}

// fetchOutliers fetches the events among ids we do not have (and, in turn,
// their missing auth events) from server, checks their signatures and auth
// rules against their own auth events, oldest first, and stores them as
// outliers. Events that fail are left out.
func (e *Engine) fetchOutliers(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string, server spec.ServerName, ids []string) error {
	fetched := map[string]gomatrixserverlib.PDU{}
	queue := uniq(ids)
	for len(queue) > 0 {
		stored, err := e.cfg.Store.Events(ctx, queue)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, s := range stored {
			have[s.EventID] = true
		}
		var next []string
		for _, id := range queue {
			if have[id] || fetched[id] != nil {
				continue
			}
			if len(fetched) >= maxFetchedOutliers {
				return fmt.Errorf("rooms: more than %d events to fetch from %s", maxFetchedOutliers, server)
			}
			raw, err := e.cfg.Remote.Event(ctx, server, id)
			if err != nil {
				e.log.Info("could not fetch event", "event_id", id, "server", server, "err", err)
				continue
			}
			ev, err := Parse(string(v.Version()), raw)
			if err != nil || ev.EventID() != id || ev.RoomID().String() != roomID {
				e.log.Info("fetched event does not match", "event_id", id, "err", err)
				continue
			}
			if err := e.VerifySignatures(ctx, ev); err != nil {
				e.log.Info("fetched event has a bad signature", "event_id", id, "err", err)
				continue
			}
			fetched[id] = ev
			next = append(next, ev.AuthEventIDs()...)
		}
		queue = uniq(next)
	}
	ordered := make([]gomatrixserverlib.PDU, 0, len(fetched))
	for _, ev := range fetched {
		ordered = append(ordered, ev)
	}
	sort.Slice(ordered, func(i, j int) bool {
		if ordered[i].Depth() != ordered[j].Depth() {
			return ordered[i].Depth() < ordered[j].Depth()
		}
		return ordered[i].EventID() < ordered[j].EventID()
	})
	for _, ev := range ordered {
		status, reason := storage.StatusAccepted, ""
		authEvents, err := e.loadAuthEvents(ctx, v, ev)
		if err != nil {
			if !errors.Is(err, ErrNotAllowed) {
				continue // its auth chain could not be fetched: never accepted
			}
			status, reason = storage.StatusRejected, err.Error()
		} else if err := e.authCheck(ctx, v, ev, authEvents); err != nil {
			status, reason = storage.StatusRejected, err.Error()
		}
		if _, err := e.write(ctx, v, &storage.RoomWrite{Events: []storage.EventUpdate{
			update(ev, status, reason, false, nil),
		}}); err != nil {
			return fmt.Errorf("rooms: store outlier %s: %w", ev.EventID(), err)
		}
	}
	return nil
}
