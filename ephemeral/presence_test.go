package ephemeral

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestEncodePresence(t *testing.T) {
	cases := map[string]struct {
		in      []PresenceUpdate
		want    string // "" when an error is expected
		wantErr bool
	}{
		"online, active, with a status": {
			in:   []PresenceUpdate{{UserID: "@alice:a.example", Presence: Online, StatusMsg: "cupcakes", LastActiveAgo: 5000, CurrentlyActive: true}},
			want: `{"content":{"push":[{"user_id":"@alice:a.example","presence":"online","status_msg":"cupcakes","last_active_ago":5000,"currently_active":true}]},"edu_type":"m.presence"}`,
		},
		"offline: last_active_ago always present, no status": {
			in:   []PresenceUpdate{{UserID: "@alice:a.example", Presence: Offline}},
			want: `{"content":{"push":[{"user_id":"@alice:a.example","presence":"offline","last_active_ago":0}]},"edu_type":"m.presence"}`,
		},
		"nothing":          {wantErr: true},
		"unknown presence": {in: []PresenceUpdate{{UserID: "@a:a", Presence: "busy"}}, wantErr: true},
		"no user":          {in: []PresenceUpdate{{Presence: Online}}, wantErr: true},
		"negative ago":     {in: []PresenceUpdate{{UserID: "@a:a", Presence: Online, LastActiveAgo: -1}}, wantErr: true},
		"status too long":  {in: []PresenceUpdate{{UserID: "@a:a", Presence: Online, StatusMsg: strings.Repeat("x", MaxStatusMsgBytes+1)}}, wantErr: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := EncodePresence(c.in)
			if c.wantErr {
				if err == nil {
					t.Fatalf("encoded %s", got)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("got %s, %v\nwant %s", got, err, c.want)
			}
		})
	}
}

func TestDecodePresence(t *testing.T) {
	many := make([]string, MaxPresencePerEDU+3)
	for i := range many {
		many[i] = `{"user_id": "@u:b.example", "presence": "online", "last_active_ago": 1}`
	}
	cases := map[string]struct {
		content string
		want    []PresenceUpdate
		skipped int
		err     bool
	}{
		"the spec's example": {
			content: `{"push": [{"user_id": "@john:matrix.org", "presence": "online", "status_msg": "Making cupcakes", "last_active_ago": 5000, "currently_active": true}]}`,
			want:    []PresenceUpdate{{UserID: "@john:matrix.org", Presence: Online, StatusMsg: "Making cupcakes", LastActiveAgo: 5000, CurrentlyActive: true}},
		},
		"currently_active defaults to false": {
			content: `{"push": [{"user_id": "@john:matrix.org", "presence": "unavailable", "last_active_ago": 0}]}`,
			want:    []PresenceUpdate{{UserID: "@john:matrix.org", Presence: Unavailable}},
		},
		"bad entries skipped, good ones kept": {
			content: `{"push": [
				{"user_id": "not-a-user", "presence": "online", "last_active_ago": 1},
				{"user_id": "@a:b.example", "presence": "busy", "last_active_ago": 1},
				{"user_id": "@a:b.example", "presence": "online"},
				{"user_id": "@a:b.example", "presence": "online", "last_active_ago": null},
				{"user_id": "@a:b.example", "presence": "online", "last_active_ago": -5},
				{"user_id": "@a:b.example", "presence": "online", "last_active_ago": 1.5},
				{"user_id": "@a:b.example", "presence": "online", "last_active_ago": "1"},
				{"user_id": "@a:b.example", "presence": "online", "last_active_ago": 1, "status_msg": 7},
				{"user_id": "@a:b.example", "presence": "online", "last_active_ago": 1, "currently_active": "yes"},
				"not an object",
				{"user_id": "@ok:b.example", "presence": "offline", "last_active_ago": 99}]}`,
			want:    []PresenceUpdate{{UserID: "@ok:b.example", Presence: Offline, LastActiveAgo: 99}},
			skipped: 10,
		},
		"status message too long": {
			content: `{"push": [{"user_id": "@a:b.example", "presence": "online", "last_active_ago": 1, "status_msg": "` + strings.Repeat("x", MaxStatusMsgBytes+1) + `"}]}`,
			skipped: 1,
		},
		"too many entries": {
			content: `{"push": [` + strings.Join(many, ",") + `]}`,
			skipped: 3,
		},
		"no push":         {content: `{}`, err: true},
		"push not a list": {content: `{"push": {}}`, err: true},
		"not an object":   {content: `[]`, err: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, skipped, err := DecodePresence([]byte(c.content))
			if (err != nil) != c.err || (err != nil && !errors.Is(err, ErrBadEDU)) {
				t.Fatalf("err %v, want error: %v", err, c.err)
			}
			if name == "too many entries" {
				if len(got) != MaxPresencePerEDU {
					t.Fatalf("kept %d entries, want %d", len(got), MaxPresencePerEDU)
				}
			} else if !slices.Equal(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			if skipped != c.skipped {
				t.Fatalf("skipped %d, want %d", skipped, c.skipped)
			}
		})
	}
}

// TestPresenceRoundTrip: what we encode, we decode the same.
func TestPresenceRoundTrip(t *testing.T) {
	in := []PresenceUpdate{
		{UserID: "@alice:a.example:8448", Presence: Online, StatusMsg: "héllo", LastActiveAgo: 12, CurrentlyActive: true},
		{UserID: "@bob:[::1]", Presence: Unavailable, LastActiveAgo: 300000},
	}
	raw, err := EncodePresence(in)
	if err != nil {
		t.Fatal(err)
	}
	e, err := DecodeEDU(raw)
	if err != nil || e.Type != TypePresence {
		t.Fatalf("envelope %+v, %v", e, err)
	}
	out, skipped, err := DecodePresence(e.Content)
	if err != nil || skipped != 0 || !slices.Equal(in, out) {
		t.Fatalf("got %+v (skipped %d, %v), want %+v", out, skipped, err, in)
	}
}

func TestAdmitPresence(t *testing.T) {
	sharing := map[string]bool{"@bob:b.example": true, "@bob:b.example:8448": true}
	shares := func(_ context.Context, u string) (bool, error) { return sharing[u], nil }
	broken := func(context.Context, string) (bool, error) { return false, errors.New("store down") }
	cases := map[string]struct {
		origin spec.ServerName
		user   string
		shares SharesRoom
		want   error // nil: admitted
	}{
		"own user sharing a room":            {origin: "b.example", user: "@bob:b.example", shares: shares},
		"own user with a port":               {origin: "b.example:8448", user: "@bob:b.example:8448", shares: shares},
		"user of another server":             {origin: "c.example", user: "@bob:b.example", shares: shares, want: ErrWrongOrigin},
		"same host, another port":            {origin: "b.example:8448", user: "@bob:b.example", shares: shares, want: ErrWrongOrigin},
		"not a user ID":                      {origin: "b.example", user: "bob", shares: shares, want: ErrWrongOrigin},
		"own user sharing no room":           {origin: "b.example", user: "@carol:b.example", shares: shares, want: ErrNoSharedRoom},
		"sharing unknown: the store is down": {origin: "b.example", user: "@bob:b.example", shares: broken, want: errAny},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := AdmitPresence(context.Background(), c.shares, c.origin, c.user)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == errAny:
				if err == nil || errors.Is(err, ErrWrongOrigin) || errors.Is(err, ErrNoSharedRoom) {
					t.Fatalf("got %v, want the store's error", err)
				}
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

var errAny = errors.New("any error")

type presenceFlushes struct {
	mu  sync.Mutex
	all map[string][][]PresenceState
}

func (f *presenceFlushes) flush(dest string, ps []PresenceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all == nil {
		f.all = map[string][][]PresenceState{}
	}
	f.all[dest] = append(f.all[dest], ps)
}

func (f *presenceFlushes) get(dest string) [][]PresenceState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.all[dest])
}

func TestPresenceCoalescer(t *testing.T) {
	clock := newFakeClock()
	var f presenceFlushes
	c := NewPresenceCoalescer(time.Second, clock, f.flush)
	at := func(user, presence string, ms int) PresenceState {
		return PresenceState{UserID: user, Presence: presence, Updated: time.UnixMilli(int64(ms))}
	}
	c.Add("b", at("@alice:a", Online, 1))
	c.Add("b", at("@bob:a", Online, 2))
	c.Add("b", at("@alice:a", Unavailable, 3))
	c.Add("b", at("@alice:a", Offline, 0)) // older: loses
	c.Add("c", at("@alice:a", Online, 1))
	if n := c.Pending(); n != 2 {
		t.Fatalf("%d batches pending, want one per destination", n)
	}
	clock.Advance(999 * time.Millisecond)
	if len(f.get("b")) != 0 {
		t.Fatal("flushed before the window closed")
	}
	clock.Advance(time.Millisecond)
	b := f.get("b")
	if len(b) != 1 || len(b[0]) != 2 || b[0][0].UserID != "@alice:a" || b[0][0].Presence != Unavailable || b[0][1].UserID != "@bob:a" {
		t.Fatalf("b got %+v; want one EDU with alice's newest state and bob's", b)
	}
	if len(f.get("c")) != 1 {
		t.Fatalf("c got %+v", f.get("c"))
	}
	// A new window after the flush; Close flushes it at once.
	c.Add("b", at("@bob:a", Offline, 5))
	c.Close()
	if b := f.get("b"); len(b) != 2 || b[1][0].Presence != Offline {
		t.Fatalf("Close did not flush: %+v", b)
	}
	c.Add("b", at("@bob:a", Online, 6))
	clock.Advance(time.Hour)
	if len(f.get("b")) != 2 {
		t.Fatal("flushed after Close")
	}
}

type presenceLog struct {
	mu      sync.Mutex
	changes []PresenceChange
	pings   []PresenceState
}

func (l *presenceLog) change(c PresenceChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

func (l *presenceLog) ping(p PresenceState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pings = append(l.pings, p)
}

// summary lists the changes as "user presence [expired]".
func (l *presenceLog) summary() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.changes {
		s := c.UserID + " " + c.Presence
		if c.Expired {
			s += " expired"
		}
		out = append(out, s)
	}
	return out
}

func (l *presenceLog) pinged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pings)
}

// TestLocalPresenceExpiry: our online user goes idle after IdleTimeout
// unless active again; users not offline are pinged.
func TestLocalPresenceExpiry(t *testing.T) {
	clock := newFakeClock()
	var l presenceLog
	tr := NewPresenceTracker(PresenceConfig{IdleTimeout: 5 * time.Minute, Ping: 25 * time.Minute, Clock: clock,
		OnChange: l.change, OnPing: l.ping})
	defer tr.Close()
	online := func() PresenceState {
		return PresenceState{UserID: "@alice:a", Presence: Online, LastActive: clock.Now(), CurrentlyActive: true}
	}
	if !tr.Set(online()) {
		t.Fatal("the first state is not a change")
	}
	clock.Advance(4 * time.Minute)
	if tr.Set(online()) { // activity: not a change, but moves the idle time
		t.Fatal("activity while online reported as a change")
	}
	clock.Advance(4 * time.Minute)
	if got := l.summary(); !slices.Equal(got, []string{"@alice:a online"}) {
		t.Fatalf("changes %q: idle too early", got)
	}
	clock.Advance(time.Minute)
	if got := l.summary(); !slices.Equal(got, []string{"@alice:a online", "@alice:a unavailable expired"}) {
		t.Fatalf("changes %q, want an expiry 5 minutes after the last activity", got)
	}
	p, ok := tr.Get("@alice:a")
	if !ok || p.Presence != Unavailable || p.CurrentlyActive || !p.LastActive.Equal(clock.Now().Add(-5*time.Minute)) {
		t.Fatalf("state after idle: %+v", p)
	}
	// Unavailable users are pinged every 25 minutes; offline ones are not.
	clock.Advance(25 * time.Minute)
	if n := l.pinged(); n != 1 {
		t.Fatalf("%d pings after 25 minutes, want 1", n)
	}
	clock.Advance(25 * time.Minute)
	if n := l.pinged(); n != 2 {
		t.Fatalf("%d pings after 50 minutes, want 2", n)
	}
	tr.Set(PresenceState{UserID: "@alice:a", Presence: Offline, LastActive: p.LastActive})
	clock.Advance(3 * time.Hour)
	if n := l.pinged(); n != 2 {
		t.Fatalf("an offline user was pinged: %d pings", n)
	}
	if got := l.summary(); len(got) != 3 || got[2] != "@alice:a offline" {
		t.Fatalf("changes %q", got)
	}
}

// TestRemotePresenceExpiry: what last_active_ago and currently_active
// say, and the remote timeout.
func TestRemotePresenceExpiry(t *testing.T) {
	cases := map[string]struct {
		update PresenceUpdate
		after  time.Duration // advance by this much, then look
		want   []string      // changes
	}{
		"online, idle for 2 minutes: unavailable 3 minutes later": {
			update: PresenceUpdate{Presence: Online, LastActiveAgo: (2 * time.Minute).Milliseconds()},
			after:  3 * time.Minute,
			want:   []string{"@bob:b online", "@bob:b unavailable expired"},
		},
		"online, idle for 2 minutes: still online 2 minutes later": {
			update: PresenceUpdate{Presence: Online, LastActiveAgo: (2 * time.Minute).Milliseconds()},
			after:  2*time.Minute + 59*time.Second,
			want:   []string{"@bob:b online"},
		},
		"online but idle for 6 minutes: unavailable at once": {
			update: PresenceUpdate{Presence: Online, LastActiveAgo: (6 * time.Minute).Milliseconds()},
			want:   []string{"@bob:b unavailable expired"},
		},
		"currently active: not idled, whatever last_active_ago says": {
			update: PresenceUpdate{Presence: Online, LastActiveAgo: (6 * time.Minute).Milliseconds(), CurrentlyActive: true},
			after:  29 * time.Minute,
			want:   []string{"@bob:b online"},
		},
		"currently active, then the server goes quiet: offline after 30 minutes": {
			update: PresenceUpdate{Presence: Online, CurrentlyActive: true},
			after:  30 * time.Minute,
			want:   []string{"@bob:b online", "@bob:b offline expired"},
		},
		"idle, then quiet: unavailable, then offline": {
			update: PresenceUpdate{Presence: Online},
			after:  time.Hour,
			want:   []string{"@bob:b online", "@bob:b unavailable expired", "@bob:b offline expired"},
		},
		"offline stays offline": {
			update: PresenceUpdate{Presence: Offline},
			after:  5 * time.Hour,
			want:   []string{"@bob:b offline"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			var l presenceLog
			tr := NewPresenceTracker(PresenceConfig{Remote: true, Clock: clock, OnChange: l.change, OnPing: l.ping})
			defer tr.Close()
			c.update.UserID = "@bob:b"
			tr.Set(StateOf(c.update, clock.Now()))
			clock.Advance(c.after)
			if got := l.summary(); !slices.Equal(got, c.want) {
				t.Fatalf("changes %q, want %q", got, c.want)
			}
			if l.pinged() != 0 {
				t.Fatal("a remote tracker pinged")
			}
		})
	}
}

func TestPresenceTrackerChangesAndClose(t *testing.T) {
	clock := newFakeClock()
	var l presenceLog
	tr := NewPresenceTracker(PresenceConfig{Remote: true, Clock: clock, OnChange: l.change})
	set := func(presence, msg string, active bool) bool {
		return tr.Set(PresenceState{UserID: "@bob:b", Presence: presence, StatusMsg: msg, LastActive: clock.Now(), CurrentlyActive: active})
	}
	steps := []struct {
		presence, msg string
		active        bool
		changed       bool
	}{
		{Online, "", true, true},
		{Online, "", true, false},     // only last active moved
		{Online, "lunch", true, true}, // status message
		{Online, "lunch", false, true},
		{Unavailable, "lunch", true, true}, // currently_active only counts when online
		{Unavailable, "lunch", false, false},
	}
	for i, s := range steps {
		if got := set(s.presence, s.msg, s.active); got != s.changed {
			t.Fatalf("step %d %+v: changed %v", i, s, got)
		}
	}
	if p, _ := tr.Get("@bob:b"); p.CurrentlyActive {
		t.Fatalf("unavailable and currently active: %+v", p)
	}
	tr.Close()
	n := len(l.summary())
	if set(Offline, "", false) {
		t.Fatal("Set after Close reported a change")
	}
	clock.Advance(time.Hour)
	if len(l.summary()) != n {
		t.Fatal("a callback after Close")
	}
	if _, ok := tr.Get("@nobody:b"); ok {
		t.Fatal("Get of an unknown user")
	}
}

// TestPresenceStateUpdate: last_active_ago is reckoned when sent.
func TestPresenceStateUpdate(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	p := PresenceState{UserID: "@a:a", Presence: Online, LastActive: t0, CurrentlyActive: true}
	u := p.Update(t0.Add(1500 * time.Millisecond))
	raw, _ := json.Marshal(u)
	if string(raw) != `{"user_id":"@a:a","presence":"online","last_active_ago":1500,"currently_active":true}` {
		t.Fatalf("got %s", raw)
	}
	if back := StateOf(u, t0.Add(1500*time.Millisecond)); !back.LastActive.Equal(t0) {
		t.Fatalf("StateOf: last active %v, want %v", back.LastActive, t0)
	}
	if u := (PresenceState{UserID: "@a:a", Presence: Offline}).Update(t0); u.LastActiveAgo != 0 {
		t.Fatalf("never active: last_active_ago %d", u.LastActiveAgo)
	}
}
