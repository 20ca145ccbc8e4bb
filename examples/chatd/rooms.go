package main

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"

	homeserver "github.com/embedmatrix/homeserver"
)

// roomEntry is one line of GET /api/rooms.
type roomEntry struct {
	RoomID      string `json:"room_id"`
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Topic       string `json:"topic"`
	Origin      string `json:"origin"`
	Membership  string `json:"membership"`
	InviteState string `json:"invite_state"`
}

// roomView is GET /api/rooms/{room}.
type roomView struct {
	RoomID      string       `json:"room_id"`
	Kind        string       `json:"kind"`
	Name        string       `json:"name"`
	Topic       string       `json:"topic"`
	Origin      string       `json:"origin"`
	RoomVersion string       `json:"room_version"`
	Members     []memberView `json:"members"`
	Banned      []bannedView `json:"banned"`
	Typing      []string     `json:"typing"`
	// Knocks are the pending requests to be invited (join rule "knock").
	Knocks []knockView `json:"knocks"`
}

type memberView struct {
	UserID      string `json:"user_id"`
	Membership  string `json:"membership"`
	InviteState string `json:"invite_state"`
	Role        string `json:"role"`
	DisplayName string `json:"displayname"`
	AvatarURL   string `json:"avatar_url"`
	// Presence is "online", "unavailable" or "offline" (also when unknown).
	Presence  string `json:"presence"`
	StatusMsg string `json:"status_msg"`
}

type bannedView struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason"`
}

// roles are the host's roles, as the homeserver's default mapping names
// them (owner 100, moderator 50, user 0).
var roles = []string{"owner", "moderator", "user"}

// POST /api/rooms
func (a *App) postRoom(q *request) (int, any, error) {
	var body struct {
		Kind   string   `json:"kind"`
		Name   string   `json:"name"`
		Topic  string   `json:"topic"`
		Public bool     `json:"public"`
		Invite []string `json:"invite"`
		// JoinRule is "public", "invite" or "knock"; it overrides public.
		JoinRule string `json:"join_rule"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	kind := homeserver.RoomKind(body.Kind)
	switch kind {
	case "":
		kind = homeserver.KindChannel
	case homeserver.KindChannel, homeserver.KindDM, homeserver.KindGroup:
	default:
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("kind %q: want channel, dm or group", body.Kind))
	}
	switch body.JoinRule {
	case "", "public", "invite", "knock":
	default:
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("join_rule %q: want public, invite or knock", body.JoinRule))
	}
	var users []string
	for _, u := range body.Invite {
		uid, err := a.checkUser(q.ctx, "invite", u)
		if err != nil {
			return 0, nil, err
		}
		users = append(users, uid)
	}
	switch {
	case kind == homeserver.KindDM && len(users) != 1:
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, "a dm needs exactly one user in \"invite\"")
	case kind == homeserver.KindGroup && len(users) < 1:
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, "a group needs users in \"invite\"")
	}
	roomID, err := a.hs.CreateRoom(q.ctx, homeserver.CreateRoomRequest{
		Creator: q.name, Kind: kind, Name: body.Name, Topic: body.Topic, Public: body.Public, Invite: users,
		JoinRule: body.JoinRule,
	})
	return a.created(q, roomID, string(kind), http.StatusCreated, err)
}

// created records a room made by a local user and answers {"room_id"}.
// When the room was made but an invite failed, the error carries the
// room_id too.
func (a *App) created(q *request, roomID, kind string, status int, err error) (int, any, error) {
	if roomID != "" {
		if derr := a.db.addRoom(q.ctx, roomID, kind, q.user); derr != nil {
			a.log.Warn("could not record a room", "room_id", roomID, "err", derr)
		}
	}
	if err != nil {
		if roomID != "" {
			e := *errorOf(err)
			e.Extra = map[string]any{"room_id": roomID}
			return 0, nil, &e
		}
		return 0, nil, err
	}
	return status, map[string]string{"room_id": roomID}, nil
}

// POST /api/command
func (a *App) postCommand(q *request) (int, any, error) {
	var body struct {
		Text string `json:"text"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Text == "" {
		return 0, nil, missing("text")
	}
	if roomID, ok, err := a.joinCommand(q, body.Text); ok {
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"room_id": roomID}, nil
	}
	roomID, err := a.hs.Command(q.ctx, q.name, body.Text)
	kind := ""
	if roomID != "" {
		if sum, serr := a.hs.Room(q.ctx, roomID); serr == nil {
			kind = string(sum.Kind)
		}
	}
	return a.created(q, roomID, kind, http.StatusOK, err)
}

// GET /api/rooms: the rooms X-User is in, and their pending invites;
// pending invites first, then the rooms most recently made or joined here.
func (a *App) getRooms(q *request) (int, any, error) {
	rooms, err := a.hs.Rooms(q.ctx, q.name)
	if err != nil {
		return 0, nil, err
	}
	states, err := a.inviteStates(q)
	if err != nil {
		return 0, nil, err
	}
	added, err := a.db.roomsAdded(q.ctx)
	if err != nil {
		return 0, nil, err
	}
	out := make([]roomEntry, 0, len(rooms))
	for _, r := range rooms {
		e := roomEntry{RoomID: r.RoomID, Kind: string(r.Kind), Name: r.Name, Topic: r.Topic, Origin: r.Origin,
			Membership: r.Membership, InviteState: r.InviteState}
		if e.InviteState == "" {
			e.InviteState = states[r.RoomID]
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(x, y roomEntry) int {
		if c := cmp.Compare(rank(x), rank(y)); c != 0 {
			return c
		}
		if c := cmp.Compare(added[y.RoomID], added[x.RoomID]); c != 0 {
			return c
		}
		return cmp.Compare(x.RoomID, y.RoomID)
	})
	return http.StatusOK, out, nil
}

func rank(e roomEntry) int {
	if e.Membership == "invite" {
		return 0
	}
	return 1
}

// inviteStates maps room IDs to the state of X-User's newest invite there.
func (a *App) inviteStates(q *request) (map[string]string, error) {
	invs, err := a.hs.Invites(q.ctx, q.name)
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for _, inv := range invs { // newest first
		if _, seen := states[inv.RoomID]; !seen {
			states[inv.RoomID] = inv.State
		}
	}
	return states, nil
}

// GET /api/invites: every invite X-User received, newest first, in every
// state (not in the table; the page shows it).
func (a *App) getInvites(q *request) (int, any, error) {
	invs, err := a.hs.Invites(q.ctx, q.name)
	if err != nil {
		return 0, nil, err
	}
	type invite struct {
		RoomID   string `json:"room_id"`
		RoomName string `json:"room_name"`
		Inviter  string `json:"inviter"`
		IsDirect bool   `json:"is_direct"`
		State    string `json:"invite_state"`
		Created  int64  `json:"ts"`
		Updated  int64  `json:"updated_ts"`
	}
	out := make([]invite, 0, len(invs))
	for _, i := range invs {
		out = append(out, invite{RoomID: i.RoomID, RoomName: i.RoomName, Inviter: i.Inviter, IsDirect: i.IsDirect,
			State: i.State, Created: i.Created.UnixMilli(), Updated: i.Updated.UnixMilli()})
	}
	return http.StatusOK, out, nil
}

// summary returns the room as X-User may see it and their membership. A
// room this server is not in yet is shown from X-User's pending invite.
func (a *App) summary(q *request) (homeserver.RoomSummary, string, error) {
	sum, err := a.hs.Room(q.ctx, q.room)
	if errors.Is(err, homeserver.ErrUnknownRoom) {
		return a.invitedSummary(q)
	}
	if err != nil {
		return sum, "", err
	}
	for _, m := range sum.Members {
		if m.UserID == q.user {
			return sum, m.Membership, nil
		}
	}
	return sum, "", nil
}

func (a *App) invitedSummary(q *request) (homeserver.RoomSummary, string, error) {
	notFound := apiErr(http.StatusNotFound, codeNotFound, fmt.Sprintf("%s does not know room %s", a.name, q.room))
	rooms, err := a.hs.Rooms(q.ctx, q.name)
	if err != nil {
		return homeserver.RoomSummary{}, "", err
	}
	i := slices.IndexFunc(rooms, func(r homeserver.RoomEntry) bool { return r.RoomID == q.room })
	if i < 0 {
		return homeserver.RoomSummary{}, "", notFound
	}
	r := rooms[i]
	sum := homeserver.RoomSummary{RoomID: r.RoomID, Kind: r.Kind, Name: r.Name, Topic: r.Topic, Origin: r.Origin}
	invs, err := a.hs.Invites(q.ctx, q.name)
	if err != nil {
		return sum, "", err
	}
	for _, inv := range invs {
		if inv.RoomID == q.room {
			sum.Version = inv.RoomVersion
			sum.Members = []homeserver.Member{
				{UserID: inv.Inviter, Membership: "join"},
				{UserID: q.user, Membership: "invite", InviteState: inv.State},
			}
			break
		}
	}
	return sum, r.Membership, nil
}

// mayView: members and invitees may look at a room.
func mayView(membership string) error {
	if membership != "join" && membership != "invite" {
		return apiErr(http.StatusForbidden, codeForbidden, "you are not in this room")
	}
	return nil
}

// GET /api/rooms/{room}
func (a *App) getRoom(q *request) (int, any, error) {
	sum, membership, err := a.summary(q)
	if err != nil {
		return 0, nil, err
	}
	if err := mayView(membership); err != nil {
		return 0, nil, err
	}
	v := roomView{RoomID: sum.RoomID, Kind: string(sum.Kind), Name: sum.Name, Topic: sum.Topic, Origin: sum.Origin,
		RoomVersion: sum.Version, Members: []memberView{}, Banned: []bannedView{}, Typing: a.hs.TypingUsers(q.room)}
	if v.Typing == nil {
		v.Typing = []string{}
	}
	profiles := a.newProfiles(q.ctx)
	for _, m := range sum.Members {
		role := m.Role
		if role == "" {
			role = "user"
		}
		p := profiles.of(m.UserID)
		mv := memberView{UserID: m.UserID, Membership: m.Membership, InviteState: m.InviteState, Role: role,
			DisplayName: p.DisplayName, AvatarURL: p.AvatarURL, Presence: "offline"}
		if pr, err := a.hs.Presence(q.ctx, m.UserID); err == nil {
			mv.Presence, mv.StatusMsg = pr.Presence, pr.StatusMsg
		}
		v.Members = append(v.Members, mv)
	}
	if v.Knocks, err = a.roomKnocks(q); err != nil {
		return 0, nil, err
	}
	for _, b := range sum.Banned {
		v.Banned = append(v.Banned, bannedView{UserID: b.UserID, Reason: b.Reason})
	}
	return http.StatusOK, v, nil
}

// userBody is the {"user"} body of invite, revoke and unban.
type userBody struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

func (a *App) decodeUser(q *request) (userBody, error) {
	var body userBody
	if err := decode(q, &body); err != nil {
		return body, err
	}
	uid, err := a.checkUser(q.ctx, "user", body.User)
	body.User = uid
	return body, err
}

// POST /api/rooms/{room}/invite
func (a *App) postInvite(q *request) (int, any, error) {
	body, err := a.decodeUser(q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.Invite(q.ctx, q.room, q.name, body.User)
}

// POST /api/rooms/{room}/revoke
func (a *App) postRevoke(q *request) (int, any, error) {
	body, err := a.decodeUser(q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.RevokeInvite(q.ctx, q.room, q.name, body.User)
}

// POST /api/rooms/{room}/accept
func (a *App) postAccept(q *request) (int, any, error) {
	if err := a.hs.AcceptInvite(q.ctx, q.room, q.name); err != nil {
		return 0, nil, err
	}
	kind := ""
	if sum, err := a.hs.Room(q.ctx, q.room); err == nil {
		kind = string(sum.Kind)
	}
	if err := a.db.addRoom(q.ctx, q.room, kind, q.user); err != nil {
		a.log.Warn("could not record a room", "room_id", q.room, "err", err)
	}
	return http.StatusOK, emptyBody, nil
}

// POST /api/rooms/{room}/reject
func (a *App) postReject(q *request) (int, any, error) {
	return http.StatusOK, emptyBody, a.hs.RejectInvite(q.ctx, q.room, q.name)
}

// POST /api/rooms/{room}/leave. Only members leave: the Matrix auth rules
// as gomatrixserverlib applies them let a leave follow a leave, which
// would send a pointless event.
func (a *App) postLeave(q *request) (int, any, error) {
	if err := a.mustBeJoined(q); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.Leave(q.ctx, q.room, q.name)
}

// PUT /api/rooms/{room}/name
func (a *App) putName(q *request) (int, any, error) {
	var body struct {
		Name *string `json:"name"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Name == nil {
		return 0, nil, missing("name")
	}
	return http.StatusOK, emptyBody, a.hs.SetRoomName(q.ctx, q.room, q.name, *body.Name)
}

// PUT /api/rooms/{room}/topic
func (a *App) putTopic(q *request) (int, any, error) {
	var body struct {
		Topic *string `json:"topic"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Topic == nil {
		return 0, nil, missing("topic")
	}
	return http.StatusOK, emptyBody, a.hs.SetRoomTopic(q.ctx, q.room, q.name, *body.Topic)
}

// PUT /api/rooms/{room}/roles/{user}
func (a *App) putRole(q *request) (int, any, error) {
	target, err := a.pathUser(q)
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		Role string `json:"role"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Role == "" {
		return 0, nil, missing("role")
	}
	if !slices.Contains(roles, body.Role) {
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("role %q: want owner, moderator or user", body.Role))
	}
	return http.StatusOK, emptyBody, a.hs.SetRole(q.ctx, q.room, q.name, target, body.Role)
}

// POST /api/rooms/{room}/ban
func (a *App) postBan(q *request) (int, any, error) {
	body, err := a.decodeUser(q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.Ban(q.ctx, q.room, q.name, body.User, body.Reason)
}

// POST /api/rooms/{room}/unban
func (a *App) postUnban(q *request) (int, any, error) {
	body, err := a.decodeUser(q)
	if err != nil {
		return 0, nil, err
	}
	banned, err := a.hs.Banned(q.ctx, q.room)
	if err != nil {
		return 0, nil, err
	}
	if !slices.ContainsFunc(banned, func(b homeserver.BannedUser) bool { return b.UserID == body.User }) {
		return 0, nil, apiErr(http.StatusNotFound, codeNotFound, fmt.Sprintf("%s is not banned from %s", body.User, q.room))
	}
	return http.StatusOK, emptyBody, a.hs.Unban(q.ctx, q.room, q.name, body.User)
}

// POST /api/rooms/{room}/kick
func (a *App) postKick(q *request) (int, any, error) {
	body, err := a.decodeUser(q)
	if err != nil {
		return 0, nil, err
	}
	sum, err := a.hs.Room(q.ctx, q.room)
	if err != nil {
		return 0, nil, err
	}
	in := slices.ContainsFunc(sum.Members, func(m homeserver.Member) bool {
		return m.UserID == body.User && (m.Membership == "join" || m.Membership == "invite")
	})
	if !in {
		return 0, nil, apiErr(http.StatusNotFound, codeNotFound, fmt.Sprintf("%s is not in %s", body.User, q.room))
	}
	return http.StatusOK, emptyBody, a.hs.Kick(q.ctx, q.room, q.name, body.User, body.Reason)
}
