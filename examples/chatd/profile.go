package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// profileView is GET /api/profile/{user}.
type profileView struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"displayname"`
	AvatarURL   string `json:"avatar_url"`
}

// https://spec.matrix.org/v1.16/client-server-api/#profiles
//
// PUT /api/profile: set X-User's display name and avatar (an mxc:// URI).
// A field left out keeps its value; "" clears it. The library sends the
// new profile into every room the user is joined to.
func (a *App) putProfile(q *request) (int, any, error) {
	var body struct {
		DisplayName *string `json:"displayname"`
		AvatarURL   *string `json:"avatar_url"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	cur, err := a.hs.Profile(q.ctx, q.name)
	if err != nil {
		return 0, nil, err
	}
	if body.DisplayName != nil {
		cur.DisplayName = *body.DisplayName
	}
	if body.AvatarURL != nil {
		cur.AvatarURL = *body.AvatarURL
	}
	if err := a.hs.SetProfile(q.ctx, q.name, cur.DisplayName, cur.AvatarURL); err != nil {
		return 0, nil, err
	}
	a.profiles.forget(q.user)
	return http.StatusOK, emptyBody, nil
}

// GET /api/profile/{user} (no X-User needed): the profile of a user of
// any server. A user of this server must exist in chatd.
func (a *App) getProfile(q *request) (int, any, error) {
	uid, err := a.pathUser(q)
	if err != nil {
		return 0, nil, err
	}
	p, err := a.hs.Profile(q.ctx, uid)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, profileView{UserID: p.UserID, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}, nil
}

// https://spec.matrix.org/v1.16/client-server-api/#presence
//
// PUT /api/presence: set X-User's presence ("online", "unavailable" or
// "offline") and status message. A status_msg left out keeps the current
// one.
func (a *App) putPresence(q *request) (int, any, error) {
	var body struct {
		Presence  string  `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Presence == "" {
		return 0, nil, missing("presence")
	}
	status := ""
	if body.StatusMsg != nil {
		status = *body.StatusMsg
	} else if cur, err := a.hs.Presence(q.ctx, q.user); err == nil {
		status = cur.StatusMsg
	}
	return http.StatusOK, emptyBody, a.hs.SetPresence(q.ctx, q.name, body.Presence, status)
}

// Profile look-ups for member lists and message senders: a remote user
// who shares no room with us is asked of their server, which may be
// slow or down. Each look-up gets lookupTimeout, and a failed one is not
// tried again for failedFor, so that a dead server does not slow every
// page refresh.
const (
	lookupTimeout = 2 * time.Second
	failedFor     = time.Minute
)

// profileCache remembers which users' profiles could not be fetched.
type profileCache struct {
	mu     sync.Mutex
	failed map[string]time.Time // user ID -> when to try again
}

func (c *profileCache) failedRecently(uid string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.failed[uid]
	return ok && now.Before(until)
}

func (c *profileCache) fail(uid string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil {
		c.failed = map[string]time.Time{}
	}
	c.failed[uid] = now.Add(failedFor)
}

func (c *profileCache) forget(uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.failed, uid)
}

// profiles looks up profiles for one answer, each user once.
type profiles struct {
	a    *App
	ctx  context.Context
	seen map[string]homeserver.Profile
}

func (a *App) newProfiles(ctx context.Context) *profiles {
	return &profiles{a: a, ctx: ctx, seen: map[string]homeserver.Profile{}}
}

// of returns a user's profile, empty when it cannot be had.
func (p *profiles) of(uid string) homeserver.Profile {
	if v, ok := p.seen[uid]; ok {
		return v
	}
	v := homeserver.Profile{UserID: uid}
	if !p.a.profiles.failedRecently(uid, time.Now()) {
		ctx, cancel := context.WithTimeout(p.ctx, lookupTimeout)
		got, err := p.a.hs.Profile(ctx, uid)
		cancel()
		if err != nil {
			p.a.log.Debug("no profile", "user_id", uid, "err", err)
			p.a.profiles.fail(uid, time.Now())
		} else {
			v = got
		}
	}
	p.seen[uid] = v
	return v
}
