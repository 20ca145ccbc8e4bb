package federation

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalidSince is returned (wrapped) for a publicRooms since token
// this server never issued (or issued for another list order).
var ErrInvalidSince = errors.New("federation: invalid publicRooms since token")

// MaxPublicRoomsLimit bounds a page of the public room directory, as
// Synapse does; a limit of 0 (none given) or more means this many.
const MaxPublicRoomsLimit = 100

// PublicRoom is one entry of a public room directory (the spec's
// PublishedRoomsChunk).
// https://spec.matrix.org/v1.16/server-server-api/#public-room-directory
type PublicRoom struct {
	RoomID           string `json:"room_id"`
	NumJoinedMembers int    `json:"num_joined_members"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
}

// PublicRoomsRequest asks for one page of a public room directory.
type PublicRoomsRequest struct {
	// Limit is the most entries to return; 0 means MaxPublicRoomsLimit,
	// and more is capped to it.
	Limit int
	// Since is a next_batch or prev_batch token of an earlier page; ""
	// starts at the beginning.
	Since string
	// Search is the filter's generic_search_term: entries whose name,
	// topic or canonical alias contain it, case-insensitively.
	Search string
}

// PublicRoomsResponse is one page of a public room directory.
type PublicRoomsResponse struct {
	Chunk                  []PublicRoom `json:"chunk"`
	NextBatch              string       `json:"next_batch,omitempty"`
	PrevBatch              string       `json:"prev_batch,omitempty"`
	TotalRoomCountEstimate int          `json:"total_room_count_estimate"`
}

// pageKey is where a page starts or ends: an entry's place in the
// directory's order (most members first, then room ID).
type pageKey struct {
	Members int    `json:"m"`
	RoomID  string `json:"r"`
	Forward bool   `json:"d"` // true: the entries after the key; false: before it
}

// compareEntry orders the directory: most joined members first, then by
// room ID.
func compareEntry(a PublicRoom, b pageKey) int {
	if c := cmp.Compare(b.Members, a.NumJoinedMembers); c != 0 {
		return c
	}
	return strings.Compare(a.RoomID, b.RoomID)
}

// pager issues and checks the opaque since tokens of a directory: a key
// and its HMAC, so a token this server never issued is refused rather
// than guessed at.
type pager struct{ secret []byte }

func (p pager) token(k pageKey) string {
	payload, _ := json.Marshal(k) // a struct of a string, an int and a bool always encodes
	mac := hmac.New(sha256.New, p.secret)
	mac.Write(payload)
	sum := mac.Sum(nil)[:16]
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(sum)
}

func (p pager) parse(tok string) (pageKey, error) {
	body, sig, ok := strings.Cut(tok, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return pageKey{}, fmt.Errorf("%w: malformed", ErrInvalidSince)
	}
	mac := hmac.New(sha256.New, p.secret)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)[:16]) {
		return pageKey{}, fmt.Errorf("%w: not issued by this server", ErrInvalidSince)
	}
	var k pageKey
	if err := json.Unmarshal(payload, &k); err != nil {
		return pageKey{}, fmt.Errorf("%w: %v", ErrInvalidSince, err)
	}
	return k, nil
}

// matches reports whether e matches a generic_search_term.
func matches(e PublicRoom, term string) bool {
	if term == "" {
		return true
	}
	term = strings.ToLower(term)
	for _, f := range []string{e.Name, e.Topic, e.CanonicalAlias} {
		if strings.Contains(strings.ToLower(f), term) {
			return true
		}
	}
	return false
}

// page filters the entries by req.Search, orders them (most members
// first, then room ID) and cuts the page req asks for. next_batch goes on
// after the page, prev_batch back before it; the count estimate is of
// every entry that matches.
func (p pager) page(entries []PublicRoom, req PublicRoomsRequest) (PublicRoomsResponse, error) {
	limit := req.Limit
	if limit <= 0 || limit > MaxPublicRoomsLimit {
		limit = MaxPublicRoomsLimit
	}
	var list []PublicRoom
	for _, e := range entries {
		if matches(e, req.Search) {
			list = append(list, e)
		}
	}
	slices.SortFunc(list, func(a, b PublicRoom) int {
		return compareEntry(a, pageKey{Members: b.NumJoinedMembers, RoomID: b.RoomID})
	})
	start, end := 0, min(limit, len(list))
	if req.Since != "" {
		k, err := p.parse(req.Since)
		if err != nil {
			return PublicRoomsResponse{}, err
		}
		// The first entry after the key (forward) or at or after it (back).
		at, found := slices.BinarySearchFunc(list, k, compareEntry)
		if k.Forward {
			if found {
				at++
			}
			start, end = at, min(at+limit, len(list))
		} else {
			start, end = max(0, at-limit), at
		}
	}
	res := PublicRoomsResponse{Chunk: slices.Clone(list[start:end]), TotalRoomCountEstimate: len(list)}
	if res.Chunk == nil {
		res.Chunk = []PublicRoom{}
	}
	if end < len(list) && end > start {
		last := list[end-1]
		res.NextBatch = p.token(pageKey{Members: last.NumJoinedMembers, RoomID: last.RoomID, Forward: true})
	}
	if start > 0 {
		k := pageKey{Members: list[min(start, len(list)-1)].NumJoinedMembers}
		if start < len(list) {
			k.RoomID = list[start].RoomID
		} else {
			// An empty page past the end: back from just after the last
			// entry (no room ID sorts between one and itself plus NUL).
			k.RoomID = list[start-1].RoomID + "\x00"
		}
		res.PrevBatch = p.token(k)
	}
	return res, nil
}

// PublicRoomOf builds a room's directory entry from the contents of its
// current state events with an empty state key, by event type
// (m.room.name, m.room.topic, m.room.avatar, m.room.canonical_alias,
// m.room.join_rules, m.room.history_visibility, m.room.guest_access,
// m.room.create), and its number of joined members. A field of the wrong
// JSON type is left out, never an error: the state came from other
// servers.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1publicrooms
func PublicRoomOf(roomID string, joined int, contents map[string][]byte) PublicRoom {
	field := func(typ, key string) string {
		var m map[string]any
		if json.Unmarshal(contents[typ], &m) != nil {
			return ""
		}
		v, _ := m[key].(string)
		return v
	}
	return PublicRoom{
		RoomID:           roomID,
		NumJoinedMembers: joined,
		Name:             field("m.room.name", "name"),
		Topic:            field("m.room.topic", "topic"),
		AvatarURL:        field("m.room.avatar", "url"),
		CanonicalAlias:   field("m.room.canonical_alias", "alias"),
		JoinRule:         field("m.room.join_rules", "join_rule"),
		RoomType:         field("m.room.create", "type"),
		WorldReadable:    field("m.room.history_visibility", "history_visibility") == "world_readable",
		GuestCanJoin:     field("m.room.guest_access", "guest_access") == "can_join",
	}
}
