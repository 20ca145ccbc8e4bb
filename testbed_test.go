package homeserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/internal/selfsigned"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/sqlite"
	"github.com/tidwall/gjson"
)

// The test bed: peers (embedded Servers, each behind its own HTTPS
// listener on 127.0.0.1) on a shared test network, built with functional
// options, and the helpers a test waits with. A peer's host records every
// hook on a channel, so a test reads as: do X on A, expect Y on B's host.

// network maps test server names to loopback addresses, like DNS would.
type network struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newNetwork() *network { return &network{addrs: map[string]string{}} }

func (n *network) resolve(_ context.Context, name string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.addrs[name]; ok {
		return a, nil
	}
	return "", fmt.Errorf("test network: no such server %q", name)
}

// peer is one embedded Server behind its own HTTPS listener on 127.0.0.1.
type peer struct {
	t      testing.TB
	net    *network
	name   string
	dbPath string
	// edits change the Config on every start, in the order given
	// (withConfig, withHooks).
	edits []func(*Config)
	// wrap, when set (withStore), wraps the SQLite store the peer opens at
	// dbPath and passes in Config.Store.
	wrap func(storage.Store) storage.Store

	srv   *Server
	store storage.Store // the store opened for wrap; stop closes it
	http  *http.Server
	addr  string

	// What the peer's host was told, hook by hook.
	messages     chan Message
	invites      chan Invite
	memberships  chan Membership
	inviteStates chan Invite
	roles        chan RoleChange
	names        chan RoomChange
	topics       chan RoomChange
	receipts     chan Receipt
	typing       chan Typing
	edited       chan Edit
	redactions   chan Redaction
	reactions    chan Reaction
	events       chan Event
	presence     chan Presence
}

// peerOption configures a peer before its Server first starts; it holds
// across restarts.
type peerOption func(*peer)

// withConfig edits the peer's Config before each start.
func withConfig(edit func(*Config)) peerOption {
	return func(p *peer) { p.edits = append(p.edits, edit) }
}

// withHooks edits the peer's Hooks (the recording ones) before each start.
func withHooks(edit func(*Hooks)) peerOption {
	return withConfig(func(c *Config) { edit(&c.Hooks) })
}

// withStore makes the peer open its SQLite file itself and hand the Server
// wrap's store (which the Server then leaves open; the peer closes it).
func withStore(wrap func(storage.Store) storage.Store) peerOption {
	return func(p *peer) { p.wrap = wrap }
}

// newPeer starts a Server named name on n, with its database in a fresh
// temporary directory, and stops it when the test ends.
func newPeer(t testing.TB, n *network, name string, opts ...peerOption) *peer {
	t.Helper()
	p := &peer{t: t, net: n, name: name, dbPath: filepath.Join(t.TempDir(), name+".db"),
		messages: make(chan Message, 1000), invites: make(chan Invite, 100), memberships: make(chan Membership, 100),
		inviteStates: make(chan Invite, 100), roles: make(chan RoleChange, 100),
		names: make(chan RoomChange, 100), topics: make(chan RoomChange, 100),
		receipts: make(chan Receipt, 1000), typing: make(chan Typing, 1000),
		edited: make(chan Edit, 100), redactions: make(chan Redaction, 100), reactions: make(chan Reaction, 100),
		events: make(chan Event, 1000), presence: make(chan Presence, 1000)}
	for _, o := range opts {
		o(p)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

// twoPeers starts hs-a.test and hs-b.test on one network.
func twoPeers(t *testing.T, opts ...peerOption) (a, b *peer) {
	t.Helper()
	n := newNetwork()
	return newPeer(t, n, "hs-a.test", opts...), newPeer(t, n, "hs-b.test", opts...)
}

// threePeers starts hs-a.test, hs-b.test and hs-c.test on one network.
func threePeers(t *testing.T, opts ...peerOption) (a, b, c *peer) {
	t.Helper()
	a, b = twoPeers(t, opts...)
	return a, b, newPeer(t, a.net, "hs-c.test", opts...)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// recordingHooks sends every hook to the peer's channels.
func (p *peer) recordingHooks() Hooks {
	return Hooks{
		OnMessage:     func(_ context.Context, m Message) { p.messages <- m },
		OnInvite:      func(_ context.Context, i Invite) { p.invites <- i },
		OnMembership:  func(_ context.Context, m Membership) { p.memberships <- m },
		OnInviteState: func(_ context.Context, i Invite) { p.inviteStates <- i },
		OnRoleChange:  func(_ context.Context, c RoleChange) { p.roles <- c },
		OnRoomName:    func(_ context.Context, c RoomChange) { p.names <- c },
		OnRoomTopic:   func(_ context.Context, c RoomChange) { p.topics <- c },
		OnReceipt:     func(_ context.Context, r Receipt) { p.receipts <- r },
		OnTyping:      func(_ context.Context, ty Typing) { p.typing <- ty },
		OnEdit:        func(_ context.Context, e Edit) { p.edited <- e },
		OnRedaction:   func(_ context.Context, r Redaction) { p.redactions <- r },
		OnReaction:    func(_ context.Context, r Reaction) { p.reactions <- r },
		OnEvent:       func(_ context.Context, e Event) { p.events <- e },
		OnPresence:    func(_ context.Context, pr Presence) { p.presence <- pr },
	}
}

func (p *peer) start() {
	t := p.t
	t.Helper()
	cfg := Config{
		ServerName:         p.name,
		DatabasePath:       p.dbPath,
		InsecureSkipVerify: true,
		Resolve:            p.net.resolve,
		Logger:             testLogger(t),
		Hooks:              p.recordingHooks(),
	}
	if p.wrap != nil {
		st, err := sqlite.Open(context.Background(), p.dbPath)
		if err != nil {
			t.Fatalf("open %s's store: %v", p.name, err)
		}
		p.store = st
		cfg.Store = p.wrap(st)
	}
	for _, edit := range p.edits {
		edit(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		p.closeStore()
		t.Fatalf("start %s: %v", p.name, err)
	}
	cert, err := selfsigned.Certificate(p.name)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
	p.addr = ln.Addr().String()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	p.http = hs // the goroutine uses hs: a quick restart rewrites p.http
	go func() {
		_ = hs.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	}()
	p.net.mu.Lock()
	p.net.addrs[p.name] = p.addr
	p.net.mu.Unlock()
}

// stop closes the listener and the Server (idempotent).
func (p *peer) stop() {
	if p.srv == nil {
		return
	}
	p.net.mu.Lock()
	delete(p.net.addrs, p.name)
	p.net.mu.Unlock()
	_ = p.http.Close()
	if err := p.srv.Close(); err != nil {
		p.t.Errorf("close %s: %v", p.name, err)
	}
	p.srv = nil
	p.closeStore()
}

func (p *peer) closeStore() {
	if p.store != nil {
		_ = p.store.Close()
		p.store = nil
	}
}

func (p *peer) restart() {
	p.stop()
	p.start()
}

// crash stops a peer without flushing anything: the send queue is cut off
// mid-flight and queued hooks are dropped, as if the process were killed.
func (p *peer) crash() {
	p.net.mu.Lock()
	delete(p.net.addrs, p.name)
	p.net.mu.Unlock()
	_ = p.http.Close()
	p.srv.sender.Close()
	_ = p.srv.store.Close() // whoever opened it
	p.srv = nil
	p.store = nil
}

// userID is the full ID of a local user.
func (p *peer) userID(local string) string { return "@" + local + ":" + p.name }

const waitFor = 10 * time.Second

// expect waits for a value on ch that ok accepts, skipping others.
func expect[T any](t *testing.T, what string, ch <-chan T, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("%s: nothing within %s", what, waitFor)
		}
	}
}

// nothingOn fails if anything arrives on ch within d.
func nothingOn[T any](t *testing.T, what string, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %+v", what, v)
	case <-time.After(d):
	}
}

// eventually retries check until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitMessage(t *testing.T, ch <-chan Message, body string) Message {
	t.Helper()
	return expect(t, fmt.Sprintf("message %q", body), ch, func(m Message) bool { return m.Body == body })
}

// waitInvite takes the next invite, which must be for roomID.
func waitInvite(t *testing.T, ch <-chan Invite, roomID string) Invite {
	t.Helper()
	i := expect(t, "invite", ch, func(Invite) bool { return true })
	if i.RoomID != roomID {
		t.Fatalf("invite for %s, want %s", i.RoomID, roomID)
	}
	return i
}

func waitMembership(t *testing.T, ch <-chan Membership, userID, membership string) {
	t.Helper()
	expect(t, userID+"'s "+membership, ch, func(m Membership) bool { return m.UserID == userID && m.Membership == membership })
}

// sharedRoom sets up alice on a and bob on b in one room, both joined.
func sharedRoom(t *testing.T, a, b *peer, version string) string {
	t.Helper()
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "General", Topic: "Talk", Version: version})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bob")); err != nil {
		t.Fatalf("invite: %v", err)
	}
	inv := waitInvite(t, b.invites, roomID)
	if inv.Inviter != a.userID("alice") || inv.State != "pending" || inv.RoomName != "General" {
		t.Fatalf("invite as seen by b: %+v", inv)
	}
	if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
		t.Fatalf("accept: %v", err)
	}
	waitMembership(t, a.memberships, b.userID("bob"), "join")
	return roomID
}

// threeServers puts alice (A), bob (B) and carol (C) in one room on A.
func threeServers(t *testing.T, version string) (a, b, c *peer, roomID string) {
	t.Helper()
	a, b, c = threePeers(t)
	roomID = sharedRoom(t, a, b, version)
	ctx := context.Background()
	if err := a.srv.Invite(ctx, roomID, "alice", c.userID("carol")); err != nil {
		t.Fatal(err)
	}
	waitInvite(t, c.invites, roomID)
	if err := c.srv.AcceptInvite(ctx, roomID, "carol"); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, b.memberships, c.userID("carol"), "join")
	return a, b, c, roomID
}

// eduCounter counts the EDUs a Server queues, by destination and type:
// pass withStore(e.wrap) to a peer.
type eduCounter struct {
	mu     sync.Mutex
	queued map[string]int // "destination|edu_type" -> EDUs queued
}

// queuedEDUs returns how many EDUs of a type the peer queued for dest.
func (e *eduCounter) queuedEDUs(dest, eduType string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queued[dest+"|"+eduType]
}

func (e *eduCounter) wrap(st storage.Store) storage.Store { return countingStore{Store: st, e: e} }

// countingStore counts the EDUs a Server queues into its eduCounter.
type countingStore struct {
	storage.Store
	e *eduCounter
}

func (c countingStore) EnqueueEDU(ctx context.Context, dest string, edu []byte) error {
	c.e.mu.Lock()
	if c.e.queued == nil {
		c.e.queued = map[string]int{}
	}
	c.e.queued[dest+"|"+gjson.GetBytes(edu, "edu_type").Str]++
	c.e.mu.Unlock()
	return c.Store.EnqueueEDU(ctx, dest, edu)
}

// ephemeralPair is alice on A and bob on B in one room, their EDUs
// counted and their Configs changed by mod.
func ephemeralPair(t *testing.T, mod func(*Config)) (a, b *peer, ea, eb *eduCounter, roomID string) {
	t.Helper()
	n := newNetwork()
	ea, eb = &eduCounter{}, &eduCounter{}
	edit := withConfig(func(c *Config) {
		if mod != nil {
			mod(c)
		}
	})
	a = newPeer(t, n, "hs-a.test", withStore(ea.wrap), edit)
	b = newPeer(t, n, "hs-b.test", withStore(eb.wrap), edit)
	return a, b, ea, eb, sharedRoom(t, a, b, "10")
}

// say sends a message from a local user and waits for the other peer's host
// to have it.
func say(t *testing.T, from, to *peer, roomID, user, body string) string {
	t.Helper()
	id, err := from.srv.SendMessage(context.Background(), roomID, user, body)
	if err != nil {
		t.Fatal(err)
	}
	waitMessage(t, to.messages, body)
	return id
}

// sendState sends a state event as a local user through the rooms engine.
func sendState(t *testing.T, p *peer, roomID, user, typ, stateKey string, content any) string {
	t.Helper()
	sk := stateKey
	ev, err := p.srv.rooms.Send(context.Background(), roomID, p.userID(user), typ, &sk, content)
	if err != nil {
		t.Fatalf("%s sends %s: %v", user, typ, err)
	}
	return ev.EventID()
}

// stored reports whether p holds the event, whatever its status.
func stored(t *testing.T, p *peer, eventID string) bool {
	t.Helper()
	_, err := p.srv.store.Event(context.Background(), eventID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// roomSummary is what must agree across servers once they converge.
func roomSummary(t *testing.T, p *peer, roomID string) (state string, messages []string) {
	t.Helper()
	ctx := context.Background()
	cur, err := p.srv.store.CurrentState(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	var st []string
	for _, e := range cur {
		st = append(st, e.Type+"|"+*e.StateKey+"|"+e.EventID)
	}
	sort.Strings(st)
	evs, err := p.srv.store.RoomEvents(ctx, roomID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == "m.room.message" {
			messages = append(messages, e.EventID)
		}
	}
	sort.Strings(messages)
	return strings.Join(st, "\n"), messages
}

// converged checks that the peers agree on the room's state and hold the
// same wantMessages messages.
func converged(t *testing.T, roomID string, wantMessages int, peers ...*peer) func() error {
	return func() error {
		s0, m0 := roomSummary(t, peers[0], roomID)
		if len(m0) != wantMessages {
			return fmt.Errorf("%s has %d messages, want %d", peers[0].name, len(m0), wantMessages)
		}
		for _, p := range peers[1:] {
			s, m := roomSummary(t, p, roomID)
			if s != s0 {
				return fmt.Errorf("%s and %s disagree on the state:\n%s\n--\n%s", peers[0].name, p.name, s0, s)
			}
			if !slices.Equal(m, m0) {
				return fmt.Errorf("%s has %d messages, %s has %d", p.name, len(m), peers[0].name, len(m0))
			}
		}
		return nil
	}
}
