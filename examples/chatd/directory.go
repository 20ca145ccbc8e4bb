package main

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// directoryEntry is one item of GET /api/directory.
type directoryEntry struct {
	RoomID   string `json:"room_id"`
	Name     string `json:"name"`
	Topic    string `json:"topic"`
	Alias    string `json:"alias"`
	Members  int    `json:"members"`
	JoinRule string `json:"join_rule"`
}

// https://spec.matrix.org/v1.16/client-server-api/#put_matrixclientv3directoryroomroomalias
//
// PUT /api/rooms/{room}/alias: give the room the alias #name:thisserver
// (X-User must be joined). The room's first alias becomes its canonical
// alias.
func (a *App) putAlias(q *request) (int, any, error) {
	var body struct {
		Alias string `json:"alias"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Alias == "" {
		return 0, nil, missing("alias")
	}
	return http.StatusOK, emptyBody, a.hs.SetAlias(q.ctx, q.room, q.name, body.Alias)
}

// https://spec.matrix.org/v1.16/client-server-api/#put_matrixclientv3directorylistroomroomid
//
// PUT /api/rooms/{room}/published: list the room in this server's public
// directory, or take it out. As Synapse asks, X-User must be joined with
// the power to change the room's canonical alias: an owner or moderator.
func (a *App) putPublished(q *request) (int, any, error) {
	var body struct {
		Published *bool `json:"published"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Published == nil {
		return 0, nil, missing("published")
	}
	if err := a.mustBeJoined(q); err != nil {
		return 0, nil, err
	}
	role, err := a.hs.Role(q.ctx, q.room, q.user)
	if err != nil {
		return 0, nil, err
	}
	if role != "owner" && role != "moderator" {
		return 0, nil, apiErr(http.StatusForbidden, codeForbidden, "only owners and moderators may publish a room")
	}
	return http.StatusOK, emptyBody, a.hs.SetPublished(q.ctx, q.room, *body.Published)
}

// https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3joinroomidoralias
//
// POST /api/join: join a room by ID or alias, through the via servers
// (an alias's directory gives its own).
func (a *App) postJoin(q *request) (int, any, error) {
	var body struct {
		Room string   `json:"room"`
		Via  []string `json:"via"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Room == "" {
		return 0, nil, missing("room")
	}
	if err := checkVia(body.Via); err != nil {
		return 0, nil, err
	}
	roomID, err := a.join(q, body.Room, body.Via)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"room_id": roomID}, nil
}

// join joins X-User to a room ID or alias and records the room.
func (a *App) join(q *request, room string, via []string) (string, error) {
	if !validRoomID(room) && !validAlias(room) {
		return "", apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is neither a room ID (!id:server) nor an alias (#name:server)", room))
	}
	roomID, err := a.hs.Join(q.ctx, room, q.name, via)
	if err != nil {
		return "", err
	}
	kind := ""
	if sum, err := a.hs.Room(q.ctx, roomID); err == nil {
		kind = string(sum.Kind)
	}
	if err := a.db.addRoom(q.ctx, roomID, kind, q.user); err != nil {
		a.log.Warn("could not record a room", "room_id", roomID, "err", err)
	}
	return roomID, nil
}

// joinCommand runs "/join #alias:server [via...]" (or a room ID) typed in
// the message box; ok is false for any other text.
func (a *App) joinCommand(q *request, text string) (roomID string, ok bool, err error) {
	f := strings.Fields(text)
	if len(f) == 0 || f[0] != "/join" {
		return "", false, nil
	}
	if len(f) < 2 {
		return "", true, apiErr(http.StatusBadRequest, codeInvalidParam, "usage: /join #alias:server [via-server...]")
	}
	if err := checkVia(f[2:]); err != nil {
		return "", true, err
	}
	roomID, err = a.join(q, f[1], f[2:])
	return roomID, true, err
}

// GET /api/directory?server=S&q=TERM (no X-User needed): the first page
// (up to 100 rooms) of a server's public room directory, this server's
// when server is empty, filtered by a search term.
func (a *App) getDirectory(q *request) (int, any, error) {
	server := strings.TrimSpace(q.r.URL.Query().Get("server"))
	if server != "" && !validServerName(server) {
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is not a server name", server))
	}
	page, err := a.hs.PublicRooms(q.ctx, server, q.r.URL.Query().Get("q"), 0, "")
	if err != nil {
		return 0, nil, err
	}
	out := make([]directoryEntry, 0, len(page.Rooms))
	for _, r := range page.Rooms {
		out = append(out, directoryEntry{RoomID: r.RoomID, Name: r.Name, Topic: r.Topic, Alias: r.CanonicalAlias,
			Members: r.NumJoinedMembers, JoinRule: r.JoinRule})
	}
	return http.StatusOK, out, nil
}

// checkVia refuses via servers that are not server names.
func checkVia(via []string) error {
	for _, s := range via {
		if !validServerName(s) {
			return apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("via %q is not a server name", s))
		}
	}
	return nil
}

// validServerName accepts a host name, IPv4 or [IPv6] literal with an
// optional :port, as the spec's server name grammar has it.
// https://spec.matrix.org/v1.16/appendices/#server-name
func validServerName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		for _, r := range s[1:end] {
			if !(unicode.IsDigit(r) || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == ':' || r == '.') {
				return false
			}
		}
		host, port = "", s[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i:]
	}
	if port != "" {
		if len(port) < 2 || len(port) > 6 {
			return false
		}
		for _, r := range port[1:] {
			if r < '0' || r > '9' {
				return false
			}
		}
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return host != "" || strings.HasPrefix(s, "[")
}
