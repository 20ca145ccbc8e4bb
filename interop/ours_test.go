package interop

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/embedmatrix/homeserver/storage/sqlite"
)

// ours is the library's Server in the test process, behind its own HTTPS
// listener on 127.0.0.1, with server name "127.0.0.1:PORT" (an IP literal
// with a port: Dendrite dials it directly, no discovery).
type ours struct {
	t      *testing.T
	name   string
	dbPath string
	ln     net.Listener
	cert   tls.Certificate
	store  *sqlite.Store // the host's own store, so tests can look at the send queue
	srv    *homeserver.Server
	http   *http.Server

	messages     *feed[homeserver.Message]
	invites      *feed[homeserver.Invite]
	memberships  *feed[homeserver.Membership]
	inviteStates *feed[homeserver.Invite]
	names        *feed[homeserver.RoomChange]
	topics       *feed[homeserver.RoomChange]
	roles        *feed[homeserver.RoleChange]
	receipts     *feed[homeserver.Receipt]
	typing       *feed[homeserver.Typing]
	edits        *feed[homeserver.Edit]
	redactions   *feed[homeserver.Redaction]
	reactions    *feed[homeserver.Reaction]
	events       *feed[homeserver.Event] // Hooks.OnEvent, the catch-all
	presence     *feed[homeserver.Presence]
	routes       map[string]string // server name -> address, ahead of discovery
	// wrap, if set, wraps the library's handler (tests that tamper with
	// what other servers get back).
	wrap func(http.Handler) http.Handler
}

// ourOption configures startOurs.
type ourOption func(*ours)

// withInboundWrap wraps the library's HTTP handler.
func withInboundWrap(w func(http.Handler) http.Handler) ourOption {
	return func(o *ours) { o.wrap = w }
}

// withRoute makes our server dial addr for serverName (Config.Resolve)
// instead of discovering it.
func withRoute(serverName, addr string) ourOption {
	return func(o *ours) { o.routes[serverName] = addr }
}

func startOurs(t *testing.T, opts ...ourOption) *ours {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("INTEROP_KEEP_OURS") != "" {
		d, err := os.MkdirTemp("", "interop-ours-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
		t.Logf("INTEROP_KEEP_OURS: our server's directory is %s", dir)
	}
	certPath, keyPath, err := writeSelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &ours{
		t: t, name: ln.Addr().String(), dbPath: filepath.Join(dir, "ours.db"), ln: ln, cert: cert,
		messages:     newFeed[homeserver.Message](),
		invites:      newFeed[homeserver.Invite](),
		memberships:  newFeed[homeserver.Membership](),
		inviteStates: newFeed[homeserver.Invite](),
		names:        newFeed[homeserver.RoomChange](),
		topics:       newFeed[homeserver.RoomChange](),
		roles:        newFeed[homeserver.RoleChange](),
		receipts:     newFeed[homeserver.Receipt](),
		typing:       newFeed[homeserver.Typing](),
		edits:        newFeed[homeserver.Edit](),
		redactions:   newFeed[homeserver.Redaction](),
		reactions:    newFeed[homeserver.Reaction](),
		events:       newFeed[homeserver.Event](),
		presence:     newFeed[homeserver.Presence](),
		routes:       map[string]string{},
	}
	for _, opt := range opts {
		opt(o)
	}
	o.start()
	t.Cleanup(o.stop)
	return o
}

func (o *ours) start() {
	t := o.t
	t.Helper()
	var logger *slog.Logger
	if lvl := os.Getenv("INTEROP_LOG"); lvl != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(lvl))
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	st, err := sqlite.Open(context.Background(), o.dbPath)
	if err != nil {
		t.Fatalf("open our store: %v", err)
	}
	srv, err := homeserver.New(context.Background(), homeserver.Config{
		ServerName:         o.name,
		Store:              st,
		InsecureSkipVerify: true, // Dendrite's certificate is self-signed
		Resolve: func(_ context.Context, name string) (string, error) {
			return o.routes[name], nil // "" falls back to the spec's discovery
		},
		Logger: logger,
		Hooks: homeserver.Hooks{
			OnMessage:     func(_ context.Context, m homeserver.Message) { o.messages.add(m) },
			OnInvite:      func(_ context.Context, i homeserver.Invite) { o.invites.add(i) },
			OnMembership:  func(_ context.Context, m homeserver.Membership) { o.memberships.add(m) },
			OnInviteState: func(_ context.Context, i homeserver.Invite) { o.inviteStates.add(i) },
			OnRoomName:    func(_ context.Context, c homeserver.RoomChange) { o.names.add(c) },
			OnRoomTopic:   func(_ context.Context, c homeserver.RoomChange) { o.topics.add(c) },
			OnRoleChange:  func(_ context.Context, c homeserver.RoleChange) { o.roles.add(c) },
			OnReceipt:     func(_ context.Context, r homeserver.Receipt) { o.receipts.add(r) },
			OnTyping:      func(_ context.Context, ty homeserver.Typing) { o.typing.add(ty) },
			OnEdit:        func(_ context.Context, e homeserver.Edit) { o.edits.add(e) },
			OnRedaction:   func(_ context.Context, r homeserver.Redaction) { o.redactions.add(r) },
			OnReaction:    func(_ context.Context, r homeserver.Reaction) { o.reactions.add(r) },
			OnEvent:       func(_ context.Context, e homeserver.Event) { o.events.add(e) },
			OnPresence:    func(_ context.Context, p homeserver.Presence) { o.presence.add(p) },
		},
	})
	if err != nil {
		st.Close()
		t.Fatalf("start our server %s: %v", o.name, err)
	}
	if o.ln == nil {
		ln, err := net.Listen("tcp", o.name)
		if err != nil {
			srv.Close()
			st.Close()
			t.Fatalf("listen again on %s: %v", o.name, err)
		}
		o.ln = ln
	}
	o.srv, o.store = srv, st
	h := srv.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	o.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ln := tls.NewListener(o.ln, &tls.Config{Certificates: []tls.Certificate{o.cert}})
	go func() { _ = o.http.Serve(ln) }()
}

// stop shuts the listener down gracefully (requests in progress get
// their answers; 10 s at most), then closes the Server and its store
// (idempotent).
func (o *ours) stop() {
	if o.srv == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := o.http.Shutdown(sctx); err != nil {
		_ = o.http.Close()
	}
	cancel()
	o.ln = nil
	if err := o.srv.Close(); err != nil {
		o.t.Errorf("close our server: %v", err)
	}
	if err := o.store.Close(); err != nil {
		o.t.Errorf("close our store: %v", err)
	}
	o.srv, o.store = nil, nil
}

// userID is the full ID of one of our users.
func (o *ours) userID(local string) string { return "@" + local + ":" + o.name }

func (o *ours) waitMessage(roomID, body string) (stamped[homeserver.Message], bool) {
	return o.messages.wait(waitTimeout, func(m homeserver.Message) bool { return m.RoomID == roomID && m.Body == body })
}

func (o *ours) waitInvite(roomID string) (stamped[homeserver.Invite], bool) {
	return o.invites.wait(waitTimeout, func(i homeserver.Invite) bool { return i.RoomID == roomID })
}

func (o *ours) waitMembership(roomID, userID, membership string) (stamped[homeserver.Membership], bool) {
	return o.memberships.wait(waitTimeout, func(m homeserver.Membership) bool {
		return m.RoomID == roomID && m.UserID == userID && m.Membership == membership
	})
}
