package ephemeral

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// EDU types and the receipt type this package handles.
const (
	TypeReceipt = "m.receipt"
	TypeTyping  = "m.typing"
	// ReadReceipt is the only receipt type sent over federation (private
	// read receipts never leave their server).
	ReadReceipt = "m.read"
)

// Bounds on what an inbound EDU may make us do.
const (
	// MaxReceiptsPerEDU is how many receipts of one m.receipt EDU are
	// looked at; the rest are dropped.
	MaxReceiptsPerEDU = 1000
	// maxIDLength is the spec's limit on room, user and event IDs.
	maxIDLength = 255
)

// ErrBadEDU is returned (wrapped) for an EDU whose shape is wrong.
var ErrBadEDU = errors.New("ephemeral: malformed EDU")

// EDU is an ephemeral data unit as it travels in a transaction.
type EDU struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// DecodeEDU reads the envelope of one EDU: a JSON object with a string
// edu_type and an object content.
func DecodeEDU(raw []byte) (EDU, error) {
	var e EDU
	if err := json.Unmarshal(raw, &e); err != nil {
		return EDU{}, fmt.Errorf("%w: %v", ErrBadEDU, err)
	}
	if e.Type == "" || !isObject(e.Content) {
		return EDU{}, fmt.Errorf("%w: want {\"edu_type\": string, \"content\": object}", ErrBadEDU)
	}
	return e, nil
}

func isObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// receiptEntry is one user's receipt on the wire.
type receiptEntry struct {
	EventIDs []string    `json:"event_ids"`
	Data     receiptData `json:"data"`
}

type receiptData struct {
	TS       *json.Number `json:"ts,omitempty"`
	ThreadID string       `json:"thread_id,omitempty"`
}

// EncodeReceipts returns the m.receipt EDU (its full JSON, edu_type and
// content) carrying receipts of one room. When rs holds several receipts
// of one user and type, the newest (by TS, then the later in rs) is sent.
//
//	{"edu_type": "m.receipt", "content": {"!room": {"m.read": {"@user": {
//	    "event_ids": ["$event"], "data": {"ts": 1533358089009}}}}}}
func EncodeReceipts(roomID string, rs []storage.Receipt) ([]byte, error) {
	if len(rs) == 0 {
		return nil, errors.New("ephemeral: no receipts to encode")
	}
	byType := map[string]map[string]receiptEntry{}
	newest := map[[2]string]int64{}
	for _, r := range rs {
		if r.RoomID != roomID {
			return nil, fmt.Errorf("ephemeral: receipt for %s in an EDU for %s", r.RoomID, roomID)
		}
		if r.Type == "" || r.UserID == "" || r.EventID == "" {
			return nil, fmt.Errorf("ephemeral: incomplete receipt %+v", r)
		}
		k := [2]string{r.Type, r.UserID}
		if ts, seen := newest[k]; seen && r.TS < ts {
			continue
		}
		newest[k] = r.TS
		if byType[r.Type] == nil {
			byType[r.Type] = map[string]receiptEntry{}
		}
		ts := json.Number(fmt.Sprint(r.TS))
		byType[r.Type][r.UserID] = receiptEntry{EventIDs: []string{r.EventID}, Data: receiptData{TS: &ts}}
	}
	return json.Marshal(map[string]any{
		"edu_type": TypeReceipt,
		"content":  map[string]any{roomID: byType},
	})
}

// DecodeReceipts reads the content of an m.receipt EDU. Only m.read
// receipts that are unthreaded (or on the "main" thread) are kept: other
// receipt types are not ours to handle, and a receipt inside a thread says
// nothing about the room's main timeline. Entries with a bad room, user
// or event ID are skipped and counted in skipped, so one bad entry does not
// cost the others; so are entries past MaxReceiptsPerEDU. A missing or
// unusable ts is returned as 0 (see ClampTS). The error is non-nil only
// when the content is not an object of rooms. The result is sorted by room
// then user.
func DecodeReceipts(content []byte) (rs []storage.Receipt, skipped int, err error) {
	var rooms map[string]json.RawMessage
	if err := json.Unmarshal(content, &rooms); err != nil || rooms == nil {
		return nil, 0, fmt.Errorf("%w: m.receipt content is not an object of rooms", ErrBadEDU)
	}
	roomIDs := sortedKeys(rooms)
	for _, roomID := range roomIDs {
		var types map[string]json.RawMessage
		if !validRoomID(roomID) || json.Unmarshal(rooms[roomID], &types) != nil {
			skipped++
			continue
		}
		var users map[string]json.RawMessage
		if raw, ok := types[ReadReceipt]; !ok || json.Unmarshal(raw, &users) != nil {
			skipped++
			continue
		}
		for _, userID := range sortedKeys(users) {
			if len(rs) >= MaxReceiptsPerEDU {
				skipped++
				continue
			}
			var e receiptEntry
			if !validUserID(userID) || json.Unmarshal(users[userID], &e) != nil ||
				len(e.EventIDs) == 0 || !validEventID(e.EventIDs[0]) ||
				(e.Data.ThreadID != "" && e.Data.ThreadID != "main") {
				skipped++
				continue
			}
			// The spec allows exactly one event ID; a longer list is read
			// as its first.
			rs = append(rs, storage.Receipt{RoomID: roomID, UserID: userID, Type: ReadReceipt,
				EventID: e.EventIDs[0], TS: tsOf(e.Data.TS)})
		}
	}
	return rs, skipped, nil
}

// tsOf reads a receipt's ts: an integer in ms, 0 when missing or unusable.
func tsOf(n *json.Number) int64 {
	if n == nil {
		return 0
	}
	if i, err := n.Int64(); err == nil {
		return max(i, 0)
	}
	if f, err := n.Float64(); err == nil && f > 0 && f < math.MaxInt64 {
		return int64(f)
	}
	return 0
}

// ClampTS returns the time to record for an inbound receipt: its ts, or
// the time it arrived when the ts is missing or in the future. Receipts
// are kept newest-first, so a peer whose clock runs ahead must not pin a
// user's receipt where it is.
func ClampTS(ts, now int64) int64 {
	if ts <= 0 || ts > now {
		return now
	}
	return ts
}

// TypingUpdate is one user starting or stopping typing in a room.
type TypingUpdate struct {
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	Typing bool   `json:"typing"`
}

// EncodeTyping returns the m.typing EDU (its full JSON).
//
//	{"edu_type": "m.typing", "content": {"room_id": "!room", "user_id": "@user", "typing": true}}
func EncodeTyping(u TypingUpdate) ([]byte, error) {
	if u.RoomID == "" || u.UserID == "" {
		return nil, fmt.Errorf("ephemeral: incomplete typing update %+v", u)
	}
	return json.Marshal(map[string]any{"edu_type": TypeTyping, "content": u})
}

// DecodeTyping reads the content of an m.typing EDU: room_id, user_id and
// a boolean typing are all required.
func DecodeTyping(content []byte) (TypingUpdate, error) {
	var c struct {
		RoomID *string `json:"room_id"`
		UserID *string `json:"user_id"`
		Typing *bool   `json:"typing"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return TypingUpdate{}, fmt.Errorf("%w: m.typing: %v", ErrBadEDU, err)
	}
	if c.RoomID == nil || c.UserID == nil || c.Typing == nil {
		return TypingUpdate{}, fmt.Errorf("%w: m.typing needs room_id, user_id and typing", ErrBadEDU)
	}
	if !validRoomID(*c.RoomID) || !validUserID(*c.UserID) {
		return TypingUpdate{}, fmt.Errorf("%w: m.typing: bad room or user ID", ErrBadEDU)
	}
	return TypingUpdate{RoomID: *c.RoomID, UserID: *c.UserID, Typing: *c.Typing}, nil
}

func validRoomID(id string) bool {
	return len(id) > 1 && len(id) <= maxIDLength && id[0] == '!' && !strings.ContainsAny(id, "\x00")
}

func validEventID(id string) bool {
	return len(id) > 1 && len(id) <= maxIDLength && id[0] == '$' && !strings.ContainsAny(id, "\x00")
}

func validUserID(id string) bool {
	if len(id) > maxIDLength {
		return false
	}
	_, err := spec.NewUserID(id, true)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
