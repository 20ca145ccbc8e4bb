package rooms

import (
	"context"
	"fmt"
	"sync"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
)

// cachedEvent is a decoded stored event. Only what cannot change once
// judged is kept: its PDU, room and status (parked events, whose status
// will change, are never cached).
type cachedEvent struct {
	pdu    gomatrixserverlib.PDU
	roomID string
	status storage.EventStatus
}

// eventCache holds recently used decoded events (auth and state events
// are read again for every event that cites them).
type eventCache struct {
	mu sync.Mutex
	m  map[string]cachedEvent
}

const eventCacheSize = 20000

// judgedEvents returns the stored events among ids, decoded, from the
// cache or the store. Unknown IDs are left out.
func (e *Engine) judgedEvents(ctx context.Context, v gomatrixserverlib.IRoomVersion, ids []string) ([]cachedEvent, error) {
	out := make([]cachedEvent, 0, len(ids))
	var missing []string
	e.events.mu.Lock()
	for _, id := range ids {
		if c, ok := e.events.m[id]; ok {
			out = append(out, c)
		} else {
			missing = append(missing, id)
		}
	}
	e.events.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	stored, err := e.cfg.Store.Events(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("rooms: load events: %w", err)
	}
	fresh := make([]cachedEvent, 0, len(stored))
	for _, s := range stored {
		p, err := pdu(v, s)
		if err != nil {
			return nil, err
		}
		fresh = append(fresh, cachedEvent{pdu: p, roomID: s.RoomID, status: s.Status})
	}
	e.events.mu.Lock()
	if e.events.m == nil || len(e.events.m)+len(fresh) > eventCacheSize {
		e.events.m = make(map[string]cachedEvent, len(fresh))
	}
	for _, c := range fresh {
		if c.status != storage.StatusParked {
			e.events.m[c.pdu.EventID()] = c
		}
	}
	e.events.mu.Unlock()
	return append(out, fresh...), nil
}
