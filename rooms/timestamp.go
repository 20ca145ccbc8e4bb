package rooms

import (
	"context"
	"fmt"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Bounds of ClosestEvent's walk through a room by time.
const (
	// timestampPage is how many new events one EventsByTime query asks
	// for, beyond the ties at its starting timestamp already looked at.
	timestampPage = 100
	// maxTimestampPages bounds the EventsByTime queries of one
	// ClosestEvent call; maxTimestampPages*timestampPage bounds the
	// events it checks for visibility.
	maxTimestampPages = 100
)

// ClosestEvent answers timestamp_to_event: the accepted event of roomID
// whose origin_server_ts is closest to ts, at or after it when forward
// and at or before it otherwise, among those server may see (history
// visibility), with its origin_server_ts. Of events with the same
// timestamp, the first in stream order is closest forward, the last
// backward. It is ErrUnknownEvent when there is none, ErrNotInRoom when
// server has no user in the room.
//
// Cost: it reads the store's index on (room, origin_server_ts) a page at
// a time, from ts outwards, and stops at the first event server may see:
// usually one query and one visibility check. When server may see none of
// the nearest events (history it was not there for), it gives up with
// ErrUnknownEvent after maxTimestampPages queries or
// maxTimestampPages*timestampPage events checked, whichever comes first.
// Many events sharing one timestamp (origin_server_ts is the sender's
// word) grow the next page, so the walk still moves on.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1timestamp_to_eventroomid
func (e *Engine) ClosestEvent(ctx context.Context, server spec.ServerName, roomID string, ts int64, forward bool) (string, int64, error) {
	if err := e.CheckServerInRoom(ctx, roomID, server); err != nil {
		return "", 0, err
	}
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return "", 0, err
	}
	var (
		cursor  = ts // where the next query starts
		tied    int  // events looked at whose timestamp is cursor
		lastPos int64
		checked int
	)
	// seen says whether ev, at cursor, was looked at by an earlier page:
	// those come first in the walk's order, so they are the ones on the
	// near side of the last one looked at.
	seen := func(ev storage.Event) bool {
		if tied == 0 || ev.OriginServerTS != cursor {
			return false
		}
		if forward {
			return ev.StreamPos <= lastPos
		}
		return ev.StreamPos >= lastPos
	}
walk:
	for range maxTimestampPages {
		limit := tied + max(timestampPage, tied)
		page, err := e.cfg.Store.EventsByTime(ctx, roomID, cursor, forward, limit)
		if err != nil {
			return "", 0, fmt.Errorf("rooms: timestamp to event: %w", err)
		}
		for _, ev := range page {
			if seen(ev) {
				continue
			}
			ok, err := e.serverMaySee(ctx, v, server, ev)
			if err != nil {
				return "", 0, err
			}
			if ok {
				return ev.EventID, ev.OriginServerTS, nil
			}
			if ev.OriginServerTS != cursor {
				cursor, tied = ev.OriginServerTS, 0
			}
			tied, lastPos = tied+1, ev.StreamPos
			if checked++; checked >= maxTimestampPages*timestampPage {
				break walk
			}
		}
		if len(page) < limit {
			break
		}
	}
	where := "at or before"
	if forward {
		where = "at or after"
	}
	return "", 0, fmt.Errorf("%w: no event %s timestamp %d that %s may see", ErrUnknownEvent, where, ts, server)
}
