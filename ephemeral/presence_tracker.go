package ephemeral

import (
	"sync"
	"time"
)

// Presence timings, Synapse's: a user idle for 5 minutes is unavailable;
// a remote user whose server has said nothing for 30 minutes is offline;
// so our users who are not offline are announced again every 25 minutes.
const (
	DefaultIdleTimeout   = 5 * time.Minute
	DefaultRemoteTimeout = 30 * time.Minute
	DefaultPingInterval  = 25 * time.Minute
)

// PresenceState is what a PresenceTracker knows of one user.
type PresenceState struct {
	UserID    string
	Presence  string // Online, Unavailable or Offline
	StatusMsg string
	// LastActive is when the user last did something (zero: never seen
	// active).
	LastActive time.Time
	// CurrentlyActive: the user is interacting now. A remote user who is
	// currently active does not go idle until their server says so.
	CurrentlyActive bool
	// Updated is when the tracker last heard of the user (Set), or last
	// announced them (a ping).
	Updated time.Time
}

// Update returns the state as an m.presence entry at now.
func (p PresenceState) Update(now time.Time) PresenceUpdate {
	var ago int64
	if !p.LastActive.IsZero() {
		ago = max(now.Sub(p.LastActive).Milliseconds(), 0)
	}
	return PresenceUpdate{UserID: p.UserID, Presence: p.Presence, StatusMsg: p.StatusMsg,
		LastActiveAgo: ago, CurrentlyActive: p.CurrentlyActive && p.Presence == Online}
}

// StateOf returns the state an inbound update describes, received at now.
func StateOf(u PresenceUpdate, now time.Time) PresenceState {
	return PresenceState{UserID: u.UserID, Presence: u.Presence, StatusMsg: u.StatusMsg,
		LastActive:      now.Add(-time.Duration(u.LastActiveAgo) * time.Millisecond),
		CurrentlyActive: u.CurrentlyActive && u.Presence == Online, Updated: now}
}

// PresenceConfig configures a PresenceTracker.
type PresenceConfig struct {
	// Remote makes the tracker one for other servers' users: a user who is
	// currently active does not go idle, and a user not offline whose
	// server says nothing for RemoteTimeout goes offline. Otherwise (our
	// users) every online user goes idle, and Ping applies.
	Remote bool
	// IdleTimeout: an online user last active this long ago becomes
	// unavailable (DefaultIdleTimeout when 0).
	IdleTimeout time.Duration
	// RemoteTimeout: see Remote (DefaultRemoteTimeout when 0).
	RemoteTimeout time.Duration
	// Ping, when positive and the tracker is not Remote, makes it call
	// OnPing for each user not offline once Ping has passed since they
	// were last set or pinged, so that other servers do not time them out.
	Ping time.Duration
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// OnChange is called when a user's presence, status message or
	// currently_active changes, expiry included. Optional.
	OnChange func(PresenceChange)
	// OnPing is called when a user is due to be announced again. Optional.
	OnPing func(PresenceState)
}

// PresenceChange is what a PresenceTracker reports.
type PresenceChange struct {
	PresenceState
	// Expired is true when the tracker moved the user: online to
	// unavailable when idle, or to offline when their server went quiet.
	Expired bool
}

// PresenceTracker knows the presence of users, with idle and timeout
// expiry and (for our users) pings. It lives in memory only.
//
// Contract: as Tracker's. Callbacks are called one at a time, in order,
// never with the state lock held, so they may do I/O and call Get; they
// must not call Set or Close. After Close returns no callback starts.
type PresenceTracker struct {
	cfg PresenceConfig

	emit sync.Mutex // held while a callback runs; taken before mu

	mu     sync.Mutex
	users  map[string]*presenceEntry
	closed bool
}

type presenceEntry struct {
	state PresenceState
	timer Timer // nil when nothing is due
}

// NewPresenceTracker returns an empty PresenceTracker.
func NewPresenceTracker(cfg PresenceConfig) *PresenceTracker {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.RemoteTimeout <= 0 {
		cfg.RemoteTimeout = DefaultRemoteTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	return &PresenceTracker{cfg: cfg, users: map[string]*presenceEntry{}}
}

// Set records a user's presence as of now (its Updated is set to now).
// A state that has already expired (online, but last active longer ago
// than the idle timeout) is recorded as expired. It reports whether the
// user's presence, status message or currently_active changed (and so
// OnChange was called); the first state of a user is a change.
func (t *PresenceTracker) Set(p PresenceState) bool {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	now := t.cfg.Clock.Now()
	p.Updated = now
	p.CurrentlyActive = p.CurrentlyActive && p.Presence == Online
	p, expired := t.expire(p, now)
	e, seen := t.users[p.UserID]
	if !seen {
		e = &presenceEntry{}
		t.users[p.UserID] = e
	}
	changed := !seen || e.state.Presence != p.Presence || e.state.StatusMsg != p.StatusMsg ||
		e.state.CurrentlyActive != p.CurrentlyActive
	e.state = p
	t.schedule(e, now)
	t.mu.Unlock()
	if changed && t.cfg.OnChange != nil {
		t.cfg.OnChange(PresenceChange{PresenceState: p, Expired: expired})
	}
	return changed
}

// expire applies the idle and remote timeouts to p at now.
func (t *PresenceTracker) expire(p PresenceState, now time.Time) (PresenceState, bool) {
	if idle, ok := t.idleAt(p); ok && !now.Before(idle) {
		p.Presence, p.CurrentlyActive = Unavailable, false
		return p, true
	}
	if t.cfg.Remote && p.Presence != Offline && !now.Before(p.Updated.Add(t.cfg.RemoteTimeout)) {
		p.Presence, p.CurrentlyActive = Offline, false
		return p, true
	}
	return p, false
}

// idleAt returns when p goes idle, if it does.
func (t *PresenceTracker) idleAt(p PresenceState) (time.Time, bool) {
	if p.Presence != Online || (t.cfg.Remote && p.CurrentlyActive) {
		return time.Time{}, false
	}
	return p.LastActive.Add(t.cfg.IdleTimeout), true
}

// schedule arms e's timer for its next due time, if any. t.mu is held.
func (t *PresenceTracker) schedule(e *presenceEntry, now time.Time) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	p := e.state
	var next time.Time
	due := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if at, ok := t.idleAt(p); ok {
		due(at)
	}
	if p.Presence != Offline {
		if t.cfg.Remote {
			due(p.Updated.Add(t.cfg.RemoteTimeout))
		} else if t.cfg.Ping > 0 {
			due(p.Updated.Add(t.cfg.Ping))
		}
	}
	if next.IsZero() {
		return
	}
	e.timer = t.cfg.Clock.AfterFunc(max(next.Sub(now), 0), func() { t.due(p.UserID, e) })
}

// due runs when a user's timer fires: it expires the user, pings them,
// or re-arms the timer.
func (t *PresenceTracker) due(userID string, e *presenceEntry) {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	if t.closed || t.users[userID] != e {
		t.mu.Unlock()
		return
	}
	now := t.cfg.Clock.Now()
	p, expired := t.expire(e.state, now)
	ping := !expired && !t.cfg.Remote && t.cfg.Ping > 0 && p.Presence != Offline &&
		!now.Before(p.Updated.Add(t.cfg.Ping))
	if expired || ping {
		if !t.cfg.Remote {
			p.Updated = now // announced now
		}
		e.state = p
	}
	t.schedule(e, now)
	t.mu.Unlock()
	switch {
	case expired && t.cfg.OnChange != nil:
		t.cfg.OnChange(PresenceChange{PresenceState: p, Expired: true})
	case ping && t.cfg.OnPing != nil:
		t.cfg.OnPing(p)
	}
}

// Get returns what the tracker knows of a user.
func (t *PresenceTracker) Get(userID string) (PresenceState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.users[userID]
	if !ok {
		return PresenceState{}, false
	}
	return e.state, true
}

// Close stops every timer; after it returns no callback starts and Set
// does nothing.
func (t *PresenceTracker) Close() {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, e := range t.users {
		if e.timer != nil {
			e.timer.Stop()
		}
	}
}
