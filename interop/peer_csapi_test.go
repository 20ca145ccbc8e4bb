package interop

import (
	"encoding/json"
	"net/url"
	"strings"
)

// The client-server API calls the peer-query scenarios (issue 13) drive
// Dendrite with: profiles, presence, aliases and the room directory.

// csProfile is Dendrite's answer to GET /profile/{userId}.
type csProfile struct {
	DisplayName string `json:"displayname"`
	AvatarURL   string `json:"avatar_url"`
}

func profilePath(userID string, field ...string) string {
	p := "/_matrix/client/v3/profile/" + url.PathEscape(userID)
	for _, f := range field {
		p += "/" + f
	}
	return p
}

// profile is GET /profile/{userId}: for another server's user Dendrite
// asks that server's /query/profile every time.
func (u *csUser) profile(userID string) (csProfile, error) {
	var p csProfile
	err := u.do("GET", profilePath(userID), nil, &p)
	return p, err
}

// setDisplayName is PUT /profile/{ownUserId}/displayname; Dendrite then
// sends a new join carrying it into every room the user is joined to.
func (u *csUser) setDisplayName(name string) error {
	return u.do("PUT", profilePath(u.UserID, "displayname"), map[string]any{"displayname": name}, nil)
}

// setAvatarURL is PUT /profile/{ownUserId}/avatar_url.
func (u *csUser) setAvatarURL(mxc string) error {
	return u.do("PUT", profilePath(u.UserID, "avatar_url"), map[string]any{"avatar_url": mxc}, nil)
}

// setPresence is PUT /presence/{ownUserId}/status.
func (u *csUser) setPresence(presence, statusMsg string) error {
	body := map[string]any{"presence": presence}
	if statusMsg != "" {
		body["status_msg"] = statusMsg
	}
	return u.do("PUT", "/_matrix/client/v3/presence/"+url.PathEscape(u.UserID)+"/status", body, nil)
}

// presenceContent is the content of an m.presence event in /sync.
type presenceContent struct {
	Presence        string `json:"presence"`
	StatusMsg       string `json:"status_msg"`
	LastActiveAgo   int64  `json:"last_active_ago"`
	CurrentlyActive bool   `json:"currently_active"`
}

// waitPresence waits until the user's /sync shows an m.presence event of
// userID whose content matches pred.
func (u *csUser) waitPresence(userID string, pred func(presenceContent) bool) (presenceContent, bool) {
	var got presenceContent
	_, ok := u.sync.feed.wait(waitTimeout, func(it syncItem) bool {
		if it.Section != "presence" || it.Event.Type != "m.presence" || it.Event.Sender != userID {
			return false
		}
		var c presenceContent
		if json.Unmarshal(it.Event.Content, &c) != nil || !pred(c) {
			return false
		}
		got = c
		return true
	})
	return got, ok
}

// presenceSeen lists every m.presence content the user's /sync showed for
// userID so far (for failure messages).
func (u *csUser) presenceSeen(userID string) []string {
	var out []string
	for _, it := range u.sync.feed.all() {
		if it.V.Section == "presence" && it.V.Event.Sender == userID {
			out = append(out, string(it.V.Event.Content))
		}
	}
	return out
}

func directoryRoomPath(alias string) string {
	return "/_matrix/client/v3/directory/room/" + url.PathEscape(alias)
}

// putAlias is PUT /directory/room/{roomAlias}: a local alias of Dendrite's.
func (u *csUser) putAlias(alias, roomID string) error {
	return u.do("PUT", directoryRoomPath(alias), map[string]any{"room_id": roomID}, nil)
}

// resolveAlias is GET /directory/room/{roomAlias}; for another server's
// alias Dendrite asks its /query/directory.
func (u *csUser) resolveAlias(alias string) (roomID string, servers []string, err error) {
	var res struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	err = u.do("GET", directoryRoomPath(alias), nil, &res)
	return res.RoomID, res.Servers, err
}

// setVisibility is PUT /directory/list/room/{roomId}: "public" lists the
// room in Dendrite's public room directory, "private" takes it out.
func (u *csUser) setVisibility(roomID, visibility string) error {
	return u.do("PUT", "/_matrix/client/v3/directory/list/room/"+url.PathEscape(roomID), map[string]any{"visibility": visibility}, nil)
}

// csPublicRoom is one entry of Dendrite's /publicRooms answer.
type csPublicRoom struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name"`
	Topic            string `json:"topic"`
	CanonicalAlias   string `json:"canonical_alias"`
	NumJoinedMembers int    `json:"num_joined_members"`
	JoinRule         string `json:"join_rule"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
}

// publicRooms is GET /publicRooms?server=S (S "" for Dendrite's own):
// for another server Dendrite asks that server's federation /publicRooms.
func (u *csUser) publicRooms(server string) ([]csPublicRoom, error) {
	q := url.Values{"limit": {"100"}}
	if server != "" {
		q.Set("server", server)
	}
	var res struct {
		Chunk []csPublicRoom `json:"chunk"`
	}
	err := u.do("GET", "/_matrix/client/v3/publicRooms?"+q.Encode(), nil, &res)
	return res.Chunk, err
}

// searchPublicRooms is POST /publicRooms?server=S with a
// generic_search_term filter.
func (u *csUser) searchPublicRooms(server, term string) ([]csPublicRoom, error) {
	p := "/_matrix/client/v3/publicRooms"
	if server != "" {
		p += "?" + url.Values{"server": {server}}.Encode()
	}
	var res struct {
		Chunk []csPublicRoom `json:"chunk"`
	}
	err := u.do("POST", p, map[string]any{"limit": 100, "filter": map[string]any{"generic_search_term": term}}, &res)
	return res.Chunk, err
}

// findPublicRoom returns the entry of roomID in a directory page.
func findPublicRoom(rs []csPublicRoom, roomID string) (csPublicRoom, bool) {
	for _, r := range rs {
		if r.RoomID == roomID {
			return r, true
		}
	}
	return csPublicRoom{}, false
}

// saw reports whether our server sent Dendrite a request of this method
// whose path starts with prefix, answered with status.
func (p *fedProxy) saw(method, prefix string, status int) bool {
	for _, r := range p.all() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) && r.Status == status {
			return true
		}
	}
	return false
}
