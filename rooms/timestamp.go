package rooms

import (
	"context"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Bounds of ClosestEvent's scan of a room.
const (
	timestampPage    = 500
	maxTimestampScan = 50000
)

// ClosestEvent answers timestamp_to_event: the accepted event of roomID
// whose origin_server_ts is closest to ts, at or after it when forward
// and at or before it otherwise, among those server may see (history
// visibility), with its origin_server_ts. It is ErrUnknownEvent when there
// is none, ErrNotInRoom when server has no user in the room.
//
// Cost: the store has no index on origin_server_ts, so this reads the
// room's events in stream order, a page at a time, up to maxTimestampScan
// events: O(room size) reads, plus one state lookup per event that would
// improve the answer. In a room longer than that, only its oldest events
// are considered.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1timestamp_to_eventroomid
func (e *Engine) ClosestEvent(ctx context.Context, server spec.ServerName, roomID string, ts int64, forward bool) (string, int64, error) {
	if err := e.CheckServerInRoom(ctx, roomID, server); err != nil {
		return "", 0, err
	}
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return "", 0, err
	}
	better := func(cand, best int64, found bool) bool {
		if forward {
			return cand >= ts && (!found || cand < best)
		}
		// Backward, a later event with the same timestamp is closer.
		return cand <= ts && (!found || cand >= best)
	}
	var (
		bestID string
		bestTS int64
		found  bool
		after  int64
	)
	for scanned := 0; scanned < maxTimestampScan; {
		page, err := e.cfg.Store.RoomEvents(ctx, roomID, after, timestampPage)
		if err != nil {
			return "", 0, fmt.Errorf("rooms: timestamp to event: %w", err)
		}
		for _, ev := range page {
			after = max(after, ev.StreamPos)
			if ev.Status != storage.StatusAccepted || !better(ev.OriginServerTS, bestTS, found) {
				continue
			}
			ok, err := e.serverMaySee(ctx, v, server, ev)
			if err != nil {
				return "", 0, err
			}
			if ok {
				bestID, bestTS, found = ev.EventID, ev.OriginServerTS, true
			}
		}
		scanned += len(page)
		if len(page) < timestampPage {
			break
		}
	}
	if !found {
		where := "at or before"
		if forward {
			where = "at or after"
		}
		return "", 0, fmt.Errorf("%w: no event %s timestamp %d", ErrUnknownEvent, where, ts)
	}
	return bestID, bestTS, nil
}
