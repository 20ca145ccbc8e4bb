package rooms

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// BackwardExtremities returns the room's oldest known events whose
// prev_events are not stored: where older history can be fetched from.
//
// One pass over the room's events in pages; a prev event not met among
// them (most prev events come earlier in the stream, so few are) may still
// be stored outside the timeline (an outlier, a rejected event), so those
// are looked up together at the end, in batches, rather than one query per
// event.
func (e *Engine) BackwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	type candidate struct {
		id   string
		prev []string
	}
	inRoom := map[string]struct{}{}
	var candidates []candidate // events with a prev event not met yet
	var after int64
	for {
		evs, err := e.cfg.Store.RoomEvents(ctx, roomID, after, backwardPage)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			after = ev.StreamPos
			inRoom[ev.EventID] = struct{}{}
			for _, p := range ev.PrevEvents {
				if _, ok := inRoom[p]; !ok {
					candidates = append(candidates, candidate{ev.EventID, ev.PrevEvents})
					break
				}
			}
		}
	}
	// The prev events still not met, each once, asked of the store.
	var ask []string
	asked := map[string]struct{}{}
	for _, c := range candidates {
		for _, p := range c.prev {
			_, met := inRoom[p]
			_, dup := asked[p]
			if !met && !dup {
				asked[p] = struct{}{}
				ask = append(ask, p)
			}
		}
	}
	stored := map[string]struct{}{}
	for len(ask) > 0 {
		n := min(len(ask), backwardPage)
		evs, err := e.cfg.Store.Events(ctx, ask[:n])
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			stored[ev.EventID] = struct{}{}
		}
		ask = ask[n:]
	}
	var out []string
	for _, c := range candidates {
		for _, p := range c.prev {
			_, met := inRoom[p]
			_, ok := stored[p]
			if !met && !ok {
				out = append(out, c.id)
				break
			}
		}
	}
	return out, nil
}

// backwardPage is how many events BackwardExtremities reads, or asks the
// store for, at a time.
const backwardPage = 500

// FetchHistory asks server for up to limit events older than what this
// server holds of a room (backfill), checks each (signatures, auth rules,
// state fetched through /state_ids when its prev events are unknown) and
// stores it as history: neither a forward extremity nor current state. It
// returns the accepted events, oldest first.
func (e *Engine) FetchHistory(ctx context.Context, server spec.ServerName, roomID string, limit int) ([]gomatrixserverlib.PDU, error) {
	if e.cfg.Remote == nil {
		return nil, errors.New("rooms: no remote to backfill from")
	}
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	from, err := e.BackwardExtremities(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if len(from) == 0 {
		return nil, nil
	}
	if len(from) > MaxPrevEvents {
		from = from[:MaxPrevEvents]
	}
	limit = min(max(limit, 1), MaxBackfill)
	raws, err := e.cfg.Remote.Backfill(ctx, server, roomID, from, limit)
	if err != nil {
		// Some servers refuse /backfill where they answer
		// /get_missing_events (Dendrite 0.15.2 rejects room version 12's
		// room IDs there): ask for what lies before the same events.
		var merr error
		if raws, merr = e.cfg.Remote.MissingEvents(ctx, server, roomID, nil, from, limit, 0); merr != nil {
			return nil, fmt.Errorf("rooms: backfill from %s: %w (get_missing_events: %v)", server, err, merr)
		}
	}
	var evs []gomatrixserverlib.PDU
	for _, raw := range raws {
		ev, err := Parse(string(v.Version()), raw)
		if err != nil || ev.RoomID().String() != roomID {
			continue
		}
		evs = append(evs, ev)
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Depth() < evs[j].Depth() })
	unlock := e.lock(roomID)
	defer unlock()
	var out []gomatrixserverlib.PDU
	for _, ev := range evs {
		if s, err := e.cfg.Store.Event(ctx, ev.EventID()); err == nil && s.StateBefore != 0 {
			continue // already part of the room here
		}
		if ev.Type() == spec.MRoomCreate {
			continue // the room's start: we hold it from the join
		}
		if checkRefs(ev) != nil || e.VerifySignatures(ctx, ev) != nil {
			continue
		}
		ok, err := e.ingestHistorical(ctx, v, ev, server)
		if err != nil {
			e.log.Info("backfilled event not taken in", "event_id", ev.EventID(), "err", err)
			continue
		}
		if ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

// ingestHistorical checks and stores one backfilled event.
func (e *Engine) ingestHistorical(ctx context.Context, v gomatrixserverlib.IRoomVersion, ev gomatrixserverlib.PDU, server spec.ServerName) (bool, error) {
	roomID := ev.RoomID().String()
	if err := e.fetchMissingAuth(ctx, v, roomID, ev, server); err != nil {
		return false, err
	}
	known, missing, err := e.prevState(ctx, ev)
	if err != nil {
		return false, err
	}
	room, err := e.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return false, err
	}
	var before int64
	var beforeSet stateSet
	if len(missing) == 0 {
		before, beforeSet, err = e.stateBefore(ctx, v, roomID, known)
	} else {
		before, beforeSet, err = e.stateFromRemote(ctx, v, roomID, ev, server, known)
	}
	if err != nil {
		return false, err
	}
	p, err := e.placeWith(ctx, v, room, ev, before, beforeSet)
	if err != nil {
		return false, err
	}
	if p.status == storage.StatusSoftFailed {
		// History is judged by the state at the event, not today's.
		p.status, p.reason = storage.StatusAccepted, nil
	}
	if err := e.commitAs(ctx, v, room, p, nil, false, true); err != nil {
		return false, err
	}
	return p.status == storage.StatusAccepted, nil
}
