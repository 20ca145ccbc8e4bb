package ephemeral

import (
	"sort"
	"sync"
	"time"
)

// DefaultTypingTimeout is how long a user counts as typing after the last
// word that they are.
const DefaultTypingTimeout = 30 * time.Second

// maxResend caps the refresh interval of local typing: Synapse forgets a
// remote typist 60 s after its last m.typing EDU, and peers may use less.
const maxResend = 20 * time.Second

// ResendInterval is how often a Tracker for local users re-announces a
// user who is still typing: half the timeout, at most 20 s, so that a
// peer expiring typists after our timeout (or Synapse's 60 s) never drops
// one who is still typing.
func ResendInterval(timeout time.Duration) time.Duration {
	return min(timeout/2, maxResend)
}

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// Timeout is how long a user stays typing after the last Set(true)
	// (DefaultTypingTimeout when 0). Then the user stops, with an
	// OnChange whose Expired is true.
	Timeout time.Duration
	// Resend, when positive, makes the Tracker call OnResend for a user
	// still typing once Resend has passed since they were last announced
	// (OnChange or OnResend). Local typists use it; remote ones do not.
	Resend time.Duration
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// OnChange is called when a user starts or stops typing, expiry
	// included. Optional.
	OnChange func(TypingChange)
	// OnResend is called when a typing user is due to be announced again.
	// Optional.
	OnResend func(TypingChange)
}

// TypingChange is what a Tracker reports.
type TypingChange struct {
	TypingUpdate
	// Expired is true when the user stopped because nobody said they
	// were still typing within the timeout.
	Expired bool
}

// Tracker knows who is typing in which room, with expiry and refresh.
//
// Contract: callbacks are called one at a time, in the order of the
// changes they report, and never with the Tracker's state lock held, so
// they may do I/O and may call Users; they must not call Set or Close
// (the callback order is kept with a second lock that Set also takes).
// After Close returns no callback starts.
type Tracker struct {
	cfg TrackerConfig

	emit sync.Mutex // held while a callback runs; taken before mu

	mu      sync.Mutex
	typists map[typistKey]*typist
	closed  bool
}

type typistKey struct{ roomID, userID string }

type typist struct {
	deadline  time.Time // stops typing then, unless Set(true) again
	announced time.Time // last OnChange or OnResend
	timer     Timer
}

// NewTracker returns an empty Tracker.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTypingTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	return &Tracker{cfg: cfg, typists: map[typistKey]*typist{}}
}

// Set records that a user started (or keeps) typing, or stopped. Typing
// again while typing only moves the expiry; stopping when not typing does
// nothing. It reports whether the user's typing state changed (and so
// OnChange was called).
func (t *Tracker) Set(roomID, userID string, typing bool) bool {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	k := typistKey{roomID, userID}
	now := t.cfg.Clock.Now()
	ty, was := t.typists[k]
	switch {
	case typing && was:
		ty.deadline = now.Add(t.cfg.Timeout)
		t.mu.Unlock()
		return false
	case typing:
		ty = &typist{deadline: now.Add(t.cfg.Timeout), announced: now}
		t.typists[k] = ty
		t.schedule(k, ty, now)
	case was:
		ty.timer.Stop()
		delete(t.typists, k)
	default:
		t.mu.Unlock()
		return false
	}
	t.mu.Unlock()
	call(t.cfg.OnChange, TypingChange{TypingUpdate: TypingUpdate{RoomID: roomID, UserID: userID, Typing: typing}})
	return true
}

// schedule arms ty's timer for its next due time: expiry, or the next
// resend if that comes first. t.mu is held.
func (t *Tracker) schedule(k typistKey, ty *typist, now time.Time) {
	next := ty.deadline
	if t.cfg.Resend > 0 {
		if r := ty.announced.Add(t.cfg.Resend); r.Before(next) {
			next = r
		}
	}
	ty.timer = t.cfg.Clock.AfterFunc(max(next.Sub(now), 0), func() { t.due(k, ty) })
}

// due runs when a typist's timer fires: it expires the typist, resends
// it, or (when Set(true) moved the deadline) just re-arms the timer.
func (t *Tracker) due(k typistKey, ty *typist) {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	if t.closed || t.typists[k] != ty {
		t.mu.Unlock()
		return
	}
	now := t.cfg.Clock.Now()
	u := TypingUpdate{RoomID: k.roomID, UserID: k.userID, Typing: true}
	if !now.Before(ty.deadline) {
		delete(t.typists, k)
		t.mu.Unlock()
		u.Typing = false
		call(t.cfg.OnChange, TypingChange{TypingUpdate: u, Expired: true})
		return
	}
	resend := t.cfg.Resend > 0 && !now.Before(ty.announced.Add(t.cfg.Resend))
	if resend {
		ty.announced = now
	}
	t.schedule(k, ty, now)
	t.mu.Unlock()
	if resend {
		call(t.cfg.OnResend, TypingChange{TypingUpdate: u})
	}
}

func call(f func(TypingChange), c TypingChange) {
	if f != nil {
		f(c)
	}
}

// Typing reports whether a user is typing in a room.
func (t *Tracker) Typing(roomID, userID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.typists[typistKey{roomID, userID}]
	return ok
}

// Users returns who is typing in a room, sorted.
func (t *Tracker) Users(roomID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for k := range t.typists {
		if k.roomID == roomID {
			out = append(out, k.userID)
		}
	}
	sort.Strings(out)
	return out
}

// Close stops every timer; after it returns no callback starts and Set
// does nothing. Typists are dropped without an OnChange.
func (t *Tracker) Close() {
	t.emit.Lock()
	defer t.emit.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, ty := range t.typists {
		ty.timer.Stop()
	}
	t.typists = map[typistKey]*typist{}
}
