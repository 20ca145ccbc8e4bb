package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/gorilla/mux"
)

// Limits of the JSON API.
const (
	maxBody       = 64 << 10
	maxMessages   = 200
	actionTimeout = 60 * time.Second
)

// request is one API call: the acting user (from X-User) and the room
// named in the path, once checked.
type request struct {
	r    *http.Request
	ctx  context.Context
	name string // local user name, e.g. "alice"
	user string // full Matrix ID, e.g. "@alice:localhost:8448"
	room string // room ID from the path, unescaped
	// event and key are the {event} and {key} of the path, unescaped,
	// on the routes that have them.
	event string
	key   string
	// target is the {target} of the knock route: a room ID or an alias.
	target string
}

// endpoint answers an API call with a status and a JSON body, or an error.
type endpoint func(q *request) (int, any, error)

// emptyBody, {}, answers calls that have nothing to return.
var emptyBody = struct{}{}

func (a *App) routes() http.Handler {
	r := mux.NewRouter().UseEncodedPath()
	api := r.PathPrefix("/api/").Subrouter()
	api.Handle("/info", methods{http.MethodGet: a.handle(false, a.getInfo)})
	api.Handle("/events", methods{http.MethodGet: http.HandlerFunc(a.serveEvents)})
	api.Handle("/invites", methods{http.MethodGet: a.handle(true, a.getInvites)})
	api.Handle("/command", methods{http.MethodPost: a.handle(true, a.postCommand)})
	api.Handle("/rooms", methods{http.MethodGet: a.handle(true, a.getRooms), http.MethodPost: a.handle(true, a.postRoom)})
	room := func(path string, m methods) { api.Handle("/rooms/{room}"+path, m) }
	room("", methods{http.MethodGet: a.handle(true, a.getRoom)})
	room("/invite", methods{http.MethodPost: a.handle(true, a.postInvite)})
	room("/revoke", methods{http.MethodPost: a.handle(true, a.postRevoke)})
	room("/accept", methods{http.MethodPost: a.handle(true, a.postAccept)})
	room("/reject", methods{http.MethodPost: a.handle(true, a.postReject)})
	room("/leave", methods{http.MethodPost: a.handle(true, a.postLeave)})
	room("/messages", methods{http.MethodGet: a.handle(true, a.getMessages), http.MethodPost: a.handle(true, a.postMessage)})
	room("/messages/{event}", methods{http.MethodPut: a.handle(true, a.putMessage), http.MethodDelete: a.handle(true, a.deleteMessage)})
	room("/messages/{event}/reactions", methods{http.MethodPost: a.handle(true, a.postReaction)})
	room("/messages/{event}/reactions/{key}", methods{http.MethodDelete: a.handle(true, a.deleteReaction)})
	room("/events", methods{http.MethodPost: a.handle(true, a.postEvent)})
	room("/name", methods{http.MethodPut: a.handle(true, a.putName)})
	room("/topic", methods{http.MethodPut: a.handle(true, a.putTopic)})
	room("/roles/{user}", methods{http.MethodPut: a.handle(true, a.putRole)})
	room("/ban", methods{http.MethodPost: a.handle(true, a.postBan)})
	room("/unban", methods{http.MethodPost: a.handle(true, a.postUnban)})
	room("/kick", methods{http.MethodPost: a.handle(true, a.postKick)})
	room("/read", methods{http.MethodPost: a.handle(true, a.postRead)})
	room("/typing", methods{http.MethodPost: a.handle(true, a.postTyping)})
	// Profiles, presence, aliases, the directory and knocking (issue 13).
	api.Handle("/profile", methods{http.MethodPut: a.handle(true, a.putProfile)})
	api.Handle("/profile/{user}", methods{http.MethodGet: a.handle(false, a.getProfile)})
	api.Handle("/presence", methods{http.MethodPut: a.handle(true, a.putPresence)})
	api.Handle("/join", methods{http.MethodPost: a.handle(true, a.postJoin)})
	api.Handle("/directory", methods{http.MethodGet: a.handle(false, a.getDirectory)})
	api.Handle("/knocks", methods{http.MethodGet: a.handle(true, a.getMyKnocks)})
	room("/alias", methods{http.MethodPut: a.handle(true, a.putAlias)})
	room("/published", methods{http.MethodPut: a.handle(true, a.putPublished)})
	room("/knocks/{user}/accept", methods{http.MethodPost: a.handle(true, a.postAcceptKnock)})
	room("/knocks/{user}/refuse", methods{http.MethodPost: a.handle(true, a.postRefuseKnock)})
	// A knock names its room by ID or by alias (URL-escaped: %23 for '#').
	api.Handle("/rooms/{target}/knock", methods{http.MethodPost: a.handle(true, a.postKnock)})
	api.NotFoundHandler = http.HandlerFunc(notFound)

	a.hs.RegisterRoutes(r)
	r.Handle("/", methods{http.MethodGet: a.webPage()})
	r.PathPrefix("/static/").Handler(methods{http.MethodGet: a.webAssets()})
	r.NotFoundHandler = http.HandlerFunc(notFound)
	return a.recoverer(r)
}

// methods routes a path by method; other methods get 405 M_UNRECOGNIZED
// (as Matrix servers answer) with an Allow header.
type methods map[string]http.Handler

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if h, ok := m[http.MethodGet]; ok && r.Method == http.MethodHead {
		h.ServeHTTP(w, r)
		return
	}
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	slices.Sort(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, apiErr(http.StatusMethodNotAllowed, codeUnrecognized, "method not allowed"))
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, apiErr(http.StatusNotFound, codeUnrecognized, "unrecognized request"))
}

// recoverer answers 500 instead of dropping the connection if a handler
// panics; it is a last resort, not error handling.
func (a *App) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("panic in handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeError(w, apiErr(http.StatusInternalServerError, codeUnknown, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// handle wraps an endpoint: it checks X-User (when needUser) and the
// {room} in the path, runs the endpoint with a context that outlives a
// client hanging up (a federation handshake half done helps no one), and
// writes the answer. Successful writes wake the live-update streams.
func (a *App) handle(needUser bool, f endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), actionTimeout)
		defer cancel()
		q := &request{r: r, ctx: ctx}
		if err := a.prepare(q, needUser); err != nil {
			writeError(w, err)
			return
		}
		status, body, err := f(q)
		if err != nil {
			if e := errorOf(err); e.Status >= 500 {
				a.log.Warn("api", "method", r.Method, "path", r.URL.Path, "user", q.user, "err", err)
			}
			writeError(w, err)
			return
		}
		if r.Method != http.MethodGet {
			a.events.bump()
		}
		writeJSON(w, status, body)
	})
}

func (a *App) prepare(q *request, needUser bool) error {
	if needUser {
		x := strings.TrimSpace(q.r.Header.Get("X-User"))
		if x == "" {
			return apiErr(http.StatusUnauthorized, codeMissingToken, "no X-User header: name the acting user (chatd has no real authentication)")
		}
		id, err := a.hs.UserID(x)
		if err != nil {
			return apiErr(http.StatusUnauthorized, codeUnknownToken, fmt.Sprintf("X-User %q is not a user of %s", x, a.name))
		}
		name := strings.TrimPrefix(id, "@")
		name = name[:strings.IndexByte(name, ':')]
		if known, err := a.db.hasUser(q.ctx, name); err != nil {
			return err
		} else if !known {
			return apiErr(http.StatusUnauthorized, codeUnknownToken, fmt.Sprintf("X-User %q is not a user of %s", x, a.name))
		}
		q.name, q.user = name, id
	}
	if raw, ok := mux.Vars(q.r)["room"]; ok {
		room, err := url.PathUnescape(raw)
		if err != nil || !validRoomID(room) {
			return apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is not a room ID (room IDs in paths are URL-escaped)", raw))
		}
		q.room = room
	}
	// Event IDs ("$..." with '/' and '+' in room versions 1-3) and
	// reaction keys (an emoji, or any text with a '/') are URL-escaped
	// in paths; the router matches the escaped path, so a %2F stays in
	// its segment.
	if raw, ok := mux.Vars(q.r)["event"]; ok {
		ev, err := url.PathUnescape(raw)
		if err != nil || !validEventID(ev) {
			return apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is not an event ID (event IDs in paths are URL-escaped)", raw))
		}
		q.event = ev
	}
	if raw, ok := mux.Vars(q.r)["target"]; ok {
		target, err := url.PathUnescape(raw)
		if err != nil || !(validRoomID(target) || validAlias(target)) {
			return apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is neither a room ID nor an alias (URL-escaped in paths)", raw))
		}
		q.target = target
	}
	if raw, ok := mux.Vars(q.r)["key"]; ok {
		key, err := url.PathUnescape(raw)
		if err != nil || key == "" {
			return apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is not a reaction key (keys in paths are URL-escaped)", raw))
		}
		q.key = key
	}
	return nil
}

// validEventID accepts "$opaque" event IDs of any room version.
func validEventID(id string) bool {
	if len(id) < 2 || len(id) > 255 || id[0] != '$' {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// validRoomID accepts "!opaque" and "!opaque:server" room IDs (v12 room
// IDs have no server part).
func validRoomID(id string) bool {
	if len(id) < 2 || len(id) > 255 || id[0] != '!' {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// validAlias accepts what looks like "#name:server"; the library checks
// the grammar.
func validAlias(a string) bool {
	if len(a) < 4 || len(a) > 255 || a[0] != '#' || !strings.Contains(a, ":") {
		return false
	}
	for _, r := range a {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// decode reads the JSON object in the request body into v.
func decode(q *request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, q.r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return apiErr(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
	}
	if err != nil {
		return apiErr(http.StatusBadRequest, codeNotJSON, "could not read the body: "+err.Error())
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) {
		return apiErr(http.StatusBadRequest, codeNotJSON, "the body is not JSON")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr(http.StatusBadRequest, codeBadJSON, "the body does not fit: "+err.Error())
	}
	return nil
}

// pathUser is the {user} of the path, unescaped and checked as checkUser
// does.
func (a *App) pathUser(q *request) (string, error) {
	raw, err := url.PathUnescape(mux.Vars(q.r)["user"])
	if err != nil {
		return "", apiErr(http.StatusBadRequest, codeInvalidParam, "the user in the path is not URL-escaped properly")
	}
	return a.checkUser(q.ctx, "user", raw)
}

func missing(field string) error {
	return apiErr(http.StatusBadRequest, codeMissingParam, fmt.Sprintf("%q is required", field))
}

// checkUser parses a user ID given in a body or path. A user of this
// server must exist in chatd.
func (a *App) checkUser(ctx context.Context, field, id string) (string, error) {
	if id == "" {
		return "", missing(field)
	}
	uid, err := homeserver.ParseUserID(id)
	if err != nil {
		return "", apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%q is not a Matrix user ID (@user:server)", id))
	}
	if local, err := a.hs.UserID(uid); err == nil {
		name := strings.TrimPrefix(local, "@")
		name = name[:strings.IndexByte(name, ':')]
		if known, err := a.db.hasUser(ctx, name); err != nil {
			return "", err
		} else if !known {
			return "", apiErr(http.StatusNotFound, codeNotFound, fmt.Sprintf("%s has no user %s", a.name, uid))
		}
	}
	return uid, nil
}

// GET /api/info (no X-User): the server name and local users, for the
// page's user picker.
func (a *App) getInfo(q *request) (int, any, error) {
	names, err := a.db.users(q.ctx)
	if err != nil {
		return 0, nil, err
	}
	type user struct {
		Name   string `json:"name"`
		UserID string `json:"user_id"`
	}
	users := make([]user, 0, len(names))
	for _, n := range names {
		id, err := a.hs.UserID(n)
		if err != nil {
			continue
		}
		users = append(users, user{Name: n, UserID: id})
	}
	return http.StatusOK, map[string]any{"server_name": a.name, "users": users}, nil
}
