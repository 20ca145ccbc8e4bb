package interop

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// csError is a non-2xx answer of Dendrite's client-server API.
type csError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *csError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// csDo sends one client-server API request to Dendrite. body, if not nil,
// is sent as JSON; a 2xx answer is decoded into out (if not nil).
func (d *dendrite) csDo(ctx context.Context, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &csError{Method: method, Path: path, Status: resp.StatusCode, Body: string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return nil
}

// csUser is a Dendrite user driven through the client-server API.
type csUser struct {
	t      *testing.T
	d      *dendrite
	UserID string
	token  string
	txn    atomic.Int64
	sync   *syncer
}

// register creates a user with shared-secret registration
// (/_synapse/admin/v1/register, what create-account does) and starts a
// /sync loop for them. The localpart gets a random suffix so tests can
// share one Dendrite.
func (d *dendrite) register(t *testing.T, localpart string, admin bool) *csUser {
	t.Helper()
	localpart = strings.ToLower(localpart + "-" + randomString(6))
	password := randomString(20)
	c := ctx(t)
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := d.csDo(c, "", "GET", "/_synapse/admin/v1/register", nil, &nonce); err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	adminStr := "notadmin"
	if admin {
		adminStr = "admin"
	}
	mac := hmac.New(sha1.New, []byte(d.secret))
	mac.Write([]byte(strings.Join([]string{nonce.Nonce, localpart, password, adminStr}, "\x00")))
	var res struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	err := d.csDo(c, "", "POST", "/_synapse/admin/v1/register", map[string]any{
		"nonce": nonce.Nonce, "username": localpart, "password": password, "admin": admin,
		"mac": hex.EncodeToString(mac.Sum(nil)),
	}, &res)
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	if res.AccessToken == "" {
		// Older Dendrites answer without a token: log in.
		if err := d.csDo(c, "", "POST", "/_matrix/client/v3/login", map[string]any{
			"type":       "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": localpart},
			"password":   password,
		}, &res); err != nil {
			t.Fatalf("login %s: %v", localpart, err)
		}
	}
	u := &csUser{t: t, d: d, UserID: res.UserID, token: res.AccessToken}
	u.sync = startSyncer(t, u)
	return u
}

func (u *csUser) do(method, path string, body, out any) error {
	return u.d.csDo(ctx(u.t), u.token, method, path, body, out)
}

func (u *csUser) createRoom(req map[string]any) (string, error) {
	var res struct {
		RoomID string `json:"room_id"`
	}
	err := u.do("POST", "/_matrix/client/v3/createRoom", req, &res)
	return res.RoomID, err
}

func (u *csUser) invite(roomID, userID string) error {
	return u.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/invite", map[string]any{"user_id": userID}, nil)
}

// join joins a room (by ID), optionally through the given servers.
func (u *csUser) join(roomID string, via ...string) error {
	q := url.Values{}
	for _, v := range via {
		q.Add("server_name", v)
		q.Add("via", v)
	}
	p := "/_matrix/client/v3/join/" + url.PathEscape(roomID)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return u.do("POST", p, map[string]any{}, nil)
}

func (u *csUser) sendText(roomID, body string) (string, error) {
	txn := fmt.Sprintf("t%d-%d", time.Now().UnixNano(), u.txn.Add(1))
	var res struct {
		EventID string `json:"event_id"`
	}
	err := u.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/"+txn,
		map[string]any{"msgtype": "m.text", "body": body}, &res)
	return res.EventID, err
}

// state is the room's current state as Dendrite sees it.
func (u *csUser) state(roomID string) ([]event, error) {
	var evs []event
	err := u.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state", nil, &evs)
	return evs, err
}

// messages pages backwards from the end of the room's timeline.
func (u *csUser) messages(roomID string, limit int) ([]event, error) {
	var res struct {
		Chunk []event `json:"chunk"`
	}
	err := u.do("GET", fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=%d", url.PathEscape(roomID), limit), nil, &res)
	return res.Chunk, err
}

// event is a client-format event (or a stripped state event).
type event struct {
	Type           string          `json:"type"`
	StateKey       *string         `json:"state_key,omitempty"`
	Sender         string          `json:"sender"`
	EventID        string          `json:"event_id,omitempty"`
	RoomID         string          `json:"room_id,omitempty"`
	OriginServerTS int64           `json:"origin_server_ts,omitempty"`
	Content        json.RawMessage `json:"content"`
}

func (e event) stateKey() string {
	if e.StateKey == nil {
		return ""
	}
	return *e.StateKey
}

// str returns a string field of the content ("" if absent).
func (e event) str(field string) string {
	var m map[string]any
	_ = json.Unmarshal(e.Content, &m)
	s, _ := m[field].(string)
	return s
}

func (e event) String() string {
	return fmt.Sprintf("%s[%s] from %s: %s", e.Type, e.stateKey(), e.Sender, e.Content)
}

// findState returns the state event of type and state key in evs.
func findState(evs []event, typ, stateKey string) (event, bool) {
	for _, e := range evs {
		if e.Type == typ && e.StateKey != nil && *e.StateKey == stateKey {
			return e, true
		}
	}
	return event{}, false
}

// syncItem is one thing a /sync answer reported for a room.
type syncItem struct {
	Section string // "invite", "join", "leave", "ephemeral" or "presence" (no room)
	RoomID  string
	// Event is a timeline event (join/leave), or for an invite the
	// invite_state (in Invite).
	Event  event
	Invite []event
	// Timeline is set for an event of a timeline (not a state section).
	Timeline bool
}

// syncer long-polls /sync for one user and feeds what it sees.
type syncer struct {
	feed *feed[syncItem]

	mu       sync.Mutex
	lastErr  error
	batches  int
	limited  int // joined-room timelines that came back limited (with a gap)
	paused   bool
	resumed  chan struct{}      // closed by resume
	inflight context.CancelFunc // cancels the /sync in flight
}

// pause stops the /sync loop: the request in flight is cancelled and its
// answer, if one comes, is dropped, so the next request after resume asks
// from the same since token. Scenario 10 pauses it around Dendrite's
// restart: a /sync answered while Dendrite shuts down can carry an advanced
// next_batch without the events its closed database failed to load.
func (s *syncer) pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return
	}
	s.paused, s.resumed = true, make(chan struct{})
	if s.inflight != nil {
		s.inflight()
	}
}

// resume restarts a paused /sync loop.
func (s *syncer) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		s.paused = false
		close(s.resumed)
	}
}

func startSyncer(t *testing.T, u *csUser) *syncer {
	s := &syncer{feed: newFeed[syncItem]()}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		since := ""
		for c.Err() == nil {
			s.mu.Lock()
			if s.paused {
				ch := s.resumed
				s.mu.Unlock()
				select {
				case <-c.Done():
					return
				case <-ch:
				}
				continue
			}
			rc, rcancel := context.WithTimeout(c, 40*time.Second)
			s.inflight = rcancel
			s.mu.Unlock()
			// A timeline limit above the 50 PDUs of one transaction, so a
			// burst never comes back "limited" with a gap (the default is 10).
			q := url.Values{"timeout": {"10000"}, "filter": {`{"room":{"timeline":{"limit":200}}}`}}
			if since != "" {
				q.Set("since", since)
			}
			var res syncResponse
			err := u.d.csDo(rc, u.token, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &res)
			rcancel()
			s.mu.Lock()
			s.inflight = nil
			paused := s.paused
			s.mu.Unlock()
			if paused {
				continue // drop it; ask again from the same since after resume
			}
			if err != nil {
				if c.Err() != nil {
					return
				}
				s.mu.Lock()
				s.lastErr = err
				s.mu.Unlock()
				select {
				case <-c.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			since = res.NextBatch
			s.mu.Lock()
			s.batches++
			s.mu.Unlock()
			s.ingest(res)
		}
	}()
	return s
}

type syncResponse struct {
	NextBatch string `json:"next_batch"`
	// Presence is the top-level presence section (m.presence events of
	// users sharing a room with the syncing user).
	Presence struct{ Events []event } `json:"presence"`
	Rooms    struct {
		Join map[string]struct {
			State    struct{ Events []event } `json:"state"`
			Timeline struct {
				Events  []event `json:"events"`
				Limited bool    `json:"limited"`
			} `json:"timeline"`
			Ephemeral struct{ Events []event } `json:"ephemeral"`
		} `json:"join"`
		Invite map[string]struct {
			InviteState struct{ Events []event } `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]struct {
			State    struct{ Events []event } `json:"state"`
			Timeline struct{ Events []event } `json:"timeline"`
		} `json:"leave"`
	} `json:"rooms"`
}

func (s *syncer) ingest(res syncResponse) {
	for _, e := range res.Presence.Events {
		s.feed.add(syncItem{Section: "presence", Event: e})
	}
	for id, r := range res.Rooms.Invite {
		s.feed.add(syncItem{Section: "invite", RoomID: id, Invite: r.InviteState.Events})
	}
	for id, r := range res.Rooms.Join {
		if r.Timeline.Limited {
			s.mu.Lock()
			s.limited++
			s.mu.Unlock()
		}
		for _, e := range r.State.Events {
			s.feed.add(syncItem{Section: "join", RoomID: id, Event: e})
		}
		for _, e := range r.Timeline.Events {
			s.feed.add(syncItem{Section: "join", RoomID: id, Event: e, Timeline: true})
		}
		for _, e := range r.Ephemeral.Events {
			s.feed.add(syncItem{Section: "ephemeral", RoomID: id, Event: e})
		}
	}
	for id, r := range res.Rooms.Leave {
		for _, e := range r.State.Events {
			s.feed.add(syncItem{Section: "leave", RoomID: id, Event: e})
		}
		for _, e := range r.Timeline.Events {
			s.feed.add(syncItem{Section: "leave", RoomID: id, Event: e, Timeline: true})
		}
	}
}

func (s *syncer) status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d /sync answers so far (%d limited timelines), last error: %v", s.batches, s.limited, s.lastErr)
}

// waitInvite waits until /sync lists roomID under rooms.invite.
func (u *csUser) waitInvite(roomID string) (stamped[syncItem], bool) {
	return u.sync.feed.wait(waitTimeout, func(it syncItem) bool {
		return it.Section == "invite" && it.RoomID == roomID
	})
}

// waitTimeline waits until /sync shows a timeline event in a joined room.
func (u *csUser) waitTimeline(roomID string, pred func(event) bool) (stamped[syncItem], bool) {
	return u.sync.feed.wait(waitTimeout, func(it syncItem) bool {
		return it.Section == "join" && it.RoomID == roomID && pred(it.Event)
	})
}

func isMessage(body string) func(event) bool {
	return func(e event) bool { return e.Type == "m.room.message" && e.str("body") == body }
}

func isMembership(userID, membership string) func(event) bool {
	return func(e event) bool {
		return e.Type == "m.room.member" && e.stateKey() == userID && e.str("membership") == membership
	}
}

func roomPath(roomID string, rest ...string) string {
	p := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// putState sends a state event and returns its ID.
func (u *csUser) putState(roomID, typ, stateKey string, content any) (string, error) {
	var res struct {
		EventID string `json:"event_id"`
	}
	p := roomPath(roomID, "state", typ)
	if stateKey != "" {
		p += "/" + url.PathEscape(stateKey)
	} else {
		p += "/"
	}
	err := u.do("PUT", p, content, &res)
	return res.EventID, err
}

// stateContent reads one current state event's content.
func (u *csUser) stateContent(roomID, typ, stateKey string) (json.RawMessage, error) {
	var raw json.RawMessage
	p := roomPath(roomID, "state", typ)
	if stateKey != "" {
		p += "/" + url.PathEscape(stateKey)
	} else {
		p += "/"
	}
	err := u.do("GET", p, nil, &raw)
	return raw, err
}

// receipt posts an m.read receipt (POST /rooms/{roomId}/receipt/m.read/{eventId}).
func (u *csUser) receipt(roomID, eventID string) error {
	return u.do("POST", roomPath(roomID, "receipt", "m.read", eventID), map[string]any{}, nil)
}

// setTyping is PUT /rooms/{roomId}/typing/{userId}.
func (u *csUser) setTyping(roomID string, typing bool) error {
	body := map[string]any{"typing": typing}
	if typing {
		body["timeout"] = 30000
	}
	return u.do("PUT", roomPath(roomID, "typing", u.UserID), body, nil)
}

// membershipCall is POST /rooms/{roomId}/{ban|unban|kick} for userID.
func (u *csUser) membershipCall(action, roomID, userID, reason string) error {
	body := map[string]any{"user_id": userID}
	if reason != "" {
		body["reason"] = reason
	}
	return u.do("POST", roomPath(roomID, action), body, nil)
}

// leave is POST /rooms/{roomId}/leave.
func (u *csUser) leave(roomID string) error {
	return u.do("POST", roomPath(roomID, "leave"), map[string]any{}, nil)
}

// fullSync is one /sync without a since token (timeout 0): the user's
// whole view now.
func (u *csUser) fullSync() (syncResponse, error) {
	var res syncResponse
	err := u.do("GET", "/_matrix/client/v3/sync?timeout=0", nil, &res)
	return res, err
}

// waitEphemeral waits until /sync shows an ephemeral event in a joined
// room that matches pred.
func (u *csUser) waitEphemeral(roomID string, pred func(event) bool) (stamped[syncItem], bool) {
	return u.sync.feed.wait(waitTimeout, func(it syncItem) bool {
		return it.Section == "ephemeral" && it.RoomID == roomID && pred(it.Event)
	})
}

// waitLeaveSection waits until /sync lists the room under rooms.leave with
// an event matching pred.
func (u *csUser) waitLeaveSection(roomID string, timeout time.Duration, pred func(event) bool) (stamped[syncItem], bool) {
	return u.sync.feed.wait(timeout, func(it syncItem) bool {
		return it.Section == "leave" && it.RoomID == roomID && pred(it.Event)
	})
}

// isState matches a state event of this type and state key.
func isState(typ, stateKey string) func(event) bool {
	return func(e event) bool { return e.Type == typ && e.StateKey != nil && *e.StateKey == stateKey }
}

// csStatus returns the HTTP status of a client-server API error (0 if the
// error is not one).
func csStatus(err error) int {
	var ce *csError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}
