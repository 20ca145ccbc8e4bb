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
	"sync"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/internal/selfsigned"
)

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
	srv    *Server
	http   *http.Server
	addr   string

	messages    chan Message
	invites     chan Invite
	memberships chan Membership
	// extraHooks, when set, adds hooks before the Server starts.
	extraHooks func(*Hooks)
	// extraConfig, when set, edits the Config before the Server starts.
	extraConfig func(*Config)
}

func startPeer(t *testing.T, n *network, name, dbPath string) *peer {
	t.Helper()
	p := &peer{t: t, net: n, name: name, dbPath: dbPath,
		messages: make(chan Message, 1000), invites: make(chan Invite, 100), memberships: make(chan Membership, 100)}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func (p *peer) start() {
	t := p.t
	t.Helper()
	hooks := Hooks{
		OnMessage:    func(_ context.Context, m Message) { p.messages <- m },
		OnInvite:     func(_ context.Context, i Invite) { p.invites <- i },
		OnMembership: func(_ context.Context, m Membership) { p.memberships <- m },
	}
	if p.extraHooks != nil {
		p.extraHooks(&hooks)
	}
	cfg := Config{
		ServerName:         p.name,
		DatabasePath:       p.dbPath,
		InsecureSkipVerify: true,
		Resolve:            p.net.resolve,
		Logger:             testLogger(t),
		Hooks:              hooks,
	}
	if p.extraConfig != nil {
		p.extraConfig(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
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
}

func (p *peer) restart() {
	p.stop()
	p.start()
}

// userID is the full ID of a local user.
func (p *peer) userID(local string) string { return "@" + local + ":" + p.name }

const waitFor = 10 * time.Second

func waitMessage(t *testing.T, ch <-chan Message, body string) Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-ch:
			if m.Body == body {
				return m
			}
		case <-deadline:
			t.Fatalf("message %q did not arrive within %s", body, waitFor)
		}
	}
}

func waitInvite(t *testing.T, ch <-chan Invite, roomID string) Invite {
	t.Helper()
	select {
	case i := <-ch:
		if i.RoomID != roomID {
			t.Fatalf("invite for %s, want %s", i.RoomID, roomID)
		}
		return i
	case <-time.After(waitFor):
		t.Fatalf("invite did not arrive within %s", waitFor)
	}
	return Invite{}
}

func waitMembership(t *testing.T, ch <-chan Membership, userID, membership string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-ch:
			if m.UserID == userID && m.Membership == membership {
				return
			}
		case <-deadline:
			t.Fatalf("%s's %s did not arrive within %s", userID, membership, waitFor)
		}
	}
}

func dbPath(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name+".db")
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

var errTimeout = errors.New("timeout")
