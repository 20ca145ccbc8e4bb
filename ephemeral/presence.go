package ephemeral

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// TypePresence is the EDU type of presence updates.
const TypePresence = "m.presence"

// The presence states of the spec.
// https://spec.matrix.org/v1.16/client-server-api/#presence
const (
	// Online: the user is connected and active.
	Online = "online"
	// Unavailable: the user is idle (or says so).
	Unavailable = "unavailable"
	// Offline: the user is not connected, or hides their presence.
	Offline = "offline"
)

// Bounds on presence.
const (
	// MaxPresencePerEDU is how many entries of one m.presence EDU's push
	// list are looked at; the rest are dropped.
	MaxPresencePerEDU = 100
	// MaxStatusMsgBytes bounds a status message, ours and other servers'.
	MaxStatusMsgBytes = 1024
)

// ErrNoSharedRoom: the user of an inbound presence update shares no room
// with this server.
var ErrNoSharedRoom = errors.New("ephemeral: user shares no room with this server")

// ValidPresence reports whether p is one of Online, Unavailable, Offline.
func ValidPresence(p string) bool {
	return p == Online || p == Unavailable || p == Offline
}

// ValidStatusMsg reports whether a status message may be sent: valid
// UTF-8 of at most MaxStatusMsgBytes.
func ValidStatusMsg(m string) bool {
	return len(m) <= MaxStatusMsgBytes && utf8.ValidString(m)
}

// PresenceUpdate is one user's presence as an m.presence EDU carries it.
type PresenceUpdate struct {
	UserID   string `json:"user_id"`
	Presence string `json:"presence"`
	// StatusMsg is optional; "" is sent as no status message.
	StatusMsg string `json:"status_msg,omitempty"`
	// LastActiveAgo is how many milliseconds ago the user last did
	// something.
	LastActiveAgo int64 `json:"last_active_ago"`
	// CurrentlyActive: the user's server says they are interacting now,
	// whatever LastActiveAgo says.
	CurrentlyActive bool `json:"currently_active,omitempty"`
}

// EncodePresence returns the m.presence EDU (its full JSON) carrying the
// updates, in the order given.
//
//	{"edu_type": "m.presence", "content": {"push": [{"user_id": "@alice:a",
//	    "presence": "online", "last_active_ago": 5000, "currently_active": true}]}}
//
// https://spec.matrix.org/v1.16/server-server-api/#presence
func EncodePresence(us []PresenceUpdate) ([]byte, error) {
	if len(us) == 0 {
		return nil, errors.New("ephemeral: no presence updates to encode")
	}
	for _, u := range us {
		if u.UserID == "" || !ValidPresence(u.Presence) || u.LastActiveAgo < 0 || !ValidStatusMsg(u.StatusMsg) {
			return nil, fmt.Errorf("ephemeral: bad presence update %+v", u)
		}
	}
	return json.Marshal(map[string]any{"edu_type": TypePresence, "content": map[string]any{"push": us}})
}

// DecodePresence reads the content of an m.presence EDU. Entries without
// a valid user_id, presence or last_active_ago (an integer, >= 0), with a
// status_msg that is not a string of at most MaxStatusMsgBytes, and
// entries past MaxPresencePerEDU are skipped and counted in skipped, so
// one bad entry does not cost the others. The error is non-nil only when
// the content has no push list.
func DecodePresence(content []byte) (us []PresenceUpdate, skipped int, err error) {
	var c struct {
		Push []json.RawMessage `json:"push"`
	}
	if err := json.Unmarshal(content, &c); err != nil || c.Push == nil {
		return nil, 0, fmt.Errorf("%w: m.presence content needs a push list", ErrBadEDU)
	}
	for i, raw := range c.Push {
		if i >= MaxPresencePerEDU {
			return us, skipped + len(c.Push) - i, nil
		}
		var e struct {
			UserID          *string         `json:"user_id"`
			Presence        *string         `json:"presence"`
			StatusMsg       *string         `json:"status_msg"`
			LastActiveAgo   json.RawMessage `json:"last_active_ago"`
			CurrentlyActive *bool           `json:"currently_active"`
		}
		if json.Unmarshal(raw, &e) != nil || e.UserID == nil || !validUserID(*e.UserID) ||
			e.Presence == nil || !ValidPresence(*e.Presence) || e.LastActiveAgo == nil || string(e.LastActiveAgo) == "null" ||
			(e.StatusMsg != nil && !ValidStatusMsg(*e.StatusMsg)) {
			skipped++
			continue
		}
		var ago int64 // an integer: not a string, not a fraction
		if json.Unmarshal(e.LastActiveAgo, &ago) != nil || ago < 0 {
			skipped++
			continue
		}
		u := PresenceUpdate{UserID: *e.UserID, Presence: *e.Presence, LastActiveAgo: ago}
		if e.StatusMsg != nil {
			u.StatusMsg = *e.StatusMsg
		}
		if e.CurrentlyActive != nil {
			u.CurrentlyActive = *e.CurrentlyActive
		}
		us = append(us, u)
	}
	return us, skipped, nil
}

// SharesRoom reports whether a user shares a room with this server: the
// caller decides what sharing means (for the root: a room where the user
// and one of our users are both joined).
type SharesRoom func(ctx context.Context, userID string) (bool, error)

// AdmitPresence checks an inbound presence update of userID sent by
// origin: the user must belong to the sending server ("presence updates
// for users of the sending homeserver") and share a room with us (servers
// "should only send presence updates for users that the receiving server
// would be interested in").
// https://spec.matrix.org/v1.16/server-server-api/#presence
func AdmitPresence(ctx context.Context, shares SharesRoom, origin spec.ServerName, userID string) error {
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrWrongOrigin, userID, err)
	}
	if u.Domain() != origin {
		return fmt.Errorf("%w: %s from %s", ErrWrongOrigin, userID, origin)
	}
	ok, err := shares(ctx, userID)
	if err != nil {
		return fmt.Errorf("ephemeral: rooms shared with %s: %w", userID, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSharedRoom, userID)
	}
	return nil
}

// PresenceCoalescer batches outbound presence per destination: the first
// state for a destination opens a window; every state for it until the
// window closes joins it, the newest per user winning; then flush gets
// the batch, to queue as one m.presence EDU. Its contract is Coalescer's.
type PresenceCoalescer struct {
	w *window[string, string, PresenceState]
}

// NewPresenceCoalescer returns a PresenceCoalescer that hands each batch
// (sorted by user) to flush after window (DefaultWindow when 0). A nil
// clock means SystemClock.
func NewPresenceCoalescer(window time.Duration, clock Clock, flush func(destination string, ps []PresenceState)) *PresenceCoalescer {
	return &PresenceCoalescer{w: newWindow(window, clock, windowRules[string, string, PresenceState]{
		flush:   flush,
		newer:   func(old, p PresenceState) bool { return !p.Updated.Before(old.Updated) },
		less:    func(a, b PresenceState) bool { return a.UserID < b.UserID },
		keyLess: func(a, b string) bool { return a < b },
	})}
}

// Add queues a user's presence for a destination. After Close it does
// nothing.
func (c *PresenceCoalescer) Add(destination string, p PresenceState) {
	c.w.add(destination, p.UserID, p)
}

// Pending reports how many destinations have a batch waiting.
func (c *PresenceCoalescer) Pending() int { return c.w.pending() }

// Close flushes every open batch now, waits for flushes under way, and
// stops the PresenceCoalescer.
func (c *PresenceCoalescer) Close() { c.w.close() }
