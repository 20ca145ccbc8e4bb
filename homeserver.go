// Package homeserver lets an existing chat backend join the Matrix network
// without running a separate homeserver. The host imports this package,
// mounts Handler (or RegisterRoutes) in its router, and calls methods on
// *Server for what its users do; Hooks tell it what remote users did.
//
// This package is the only one a host needs: it wires the federation wire
// (package federation), the room DAG (rooms) and the store (storage, with
// SQLite by default).
package homeserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/sqlite"
	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Server is an embedded homeserver. Several can live in one process.
type Server struct {
	cfg       Config
	name      spec.ServerName
	log       *slog.Logger
	store     storage.Store
	ownsStore bool

	identity  *federation.Identity
	transport *federation.Transport
	client    *federation.Client
	keyring   *federation.KeyRing
	rooms     *rooms.Engine
	sender    *federation.Sender
	fed       *federation.Server
	hooks     *dispatcher
	roles     *powerlevels.Mapping
	inviteMu  sync.Mutex      // serialises invite state changes
	reactMu   sync.Mutex      // serialises reactions (the duplicate check)
	eph       *ephemeralState // receipts and typing
	prof      profileState    // the remote profile cache's clock
	knocks    knockMemory     // local users' knocks made in this run (knock.go)
}

// New starts a Server: it opens the store, loads (or on first start
// generates and persists) the signing key, and resumes the send queue.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if _, _, ok := spec.ParseAndValidateServerName(spec.ServerName(cfg.ServerName)); !ok {
		return nil, fmt.Errorf("homeserver: invalid server name %q", cfg.ServerName)
	}
	if cfg.DefaultRoomVersion == "" {
		cfg.DefaultRoomVersion = rooms.DefaultVersion
	}
	if _, err := rooms.Version(cfg.DefaultRoomVersion); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, name: spec.ServerName(cfg.ServerName), log: cfg.Logger, store: cfg.Store, roles: powerlevels.Default()}
	if cfg.Roles != nil {
		levels := make(map[powerlevels.Role]int64, len(cfg.Roles))
		for r, l := range cfg.Roles {
			levels[powerlevels.Role(r)] = l
		}
		m, err := powerlevels.NewMapping(levels)
		if err != nil {
			return nil, fmt.Errorf("homeserver: Config.Roles: %w", err)
		}
		s.roles = m
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("server", cfg.ServerName)
	if s.store == nil {
		if cfg.DatabasePath == "" {
			return nil, errors.New("homeserver: Config needs a Store or a DatabasePath")
		}
		st, err := sqlite.Open(ctx, cfg.DatabasePath)
		if err != nil {
			return nil, err
		}
		s.store, s.ownsStore = st, true
	}
	id, err := federation.LoadIdentity(ctx, s.store, s.name)
	if err != nil {
		s.closeStore()
		return nil, err
	}
	s.identity = id
	s.transport = federation.NewTransport(federation.TransportConfig{
		TLS: cfg.OutboundTLS, InsecureSkipVerify: cfg.InsecureSkipVerify, Resolve: cfg.Resolve,
	})
	s.client = federation.NewClient(id, s.transport, 0)
	s.keyring = federation.NewKeyRing(id, s.store, s.client)
	s.sender = federation.NewSender(s.store, s.client, s.log)
	s.hooks = newDispatcher(s.log)
	// The ephemeral state comes before the rooms engine: the engine's
	// OnAccepted handlers use it (a leave clears the user's typing).
	s.eph = s.newEphemeral()
	s.rooms = rooms.New(rooms.Config{
		Signer:     rooms.Signer{ServerName: id.ServerName, KeyID: id.KeyID, PrivateKey: id.PrivateKey},
		Store:      s.store,
		Verifier:   s.keyring,
		Logger:     s.log,
		OnAccepted: s.onAccepted,
		OnQueued:   func(d []string) { s.sender.Wake(d...) },
		Remote:     s.client,
	})
	s.fed = federation.NewServer(federation.ServerConfig{
		Identity: id, KeyRing: s.keyring, Rooms: s.rooms, Store: s.store, Logger: s.log,
		MaxBodyBytes: cfg.MaxBodyBytes, WellKnownServer: cfg.WellKnownServer,
		OnInvite:         s.onInviteOrKnock,
		OnUnknownRoomPDU: s.onOutOfRoomPDUOrKnock,
		OnOriginSeen:     s.sender.Retry,
		OnEDUs:           s.onEDUs,
		UserExists:       cfg.UserExists,
		QueryProfile:     s.serveProfile,
		ResolveAlias:     s.resolveLocalAlias,
		PublicRooms:      s.directoryEntries,
		Hierarchy:        s.serveHierarchy,
	})
	if err := s.sender.Start(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("homeserver: resume send queue: %w", err)
	}
	return s, nil
}

// ServerName returns this server's Matrix name.
func (s *Server) ServerName() string { return string(s.name) }

// Handler serves /_matrix/federation/..., /_matrix/key/... and
// /.well-known/matrix/server. Mount it at the root of the host's HTTPS
// listener (it routes on the full path).
func (s *Server) Handler() http.Handler { return s.fed }

// RegisterRoutes adds the homeserver's routes to a gorilla/mux router
// beside the host's own.
func (s *Server) RegisterRoutes(r *mux.Router) { s.fed.Mount(r) }

// Close stops the send queue and the hook goroutine (running the hooks
// already queued), then closes the store if New opened it. Everything
// queued for other servers stays in the store and is sent after a restart.
func (s *Server) Close() error {
	s.closeEphemeral()
	s.sender.Close()
	s.hooks.close()
	s.transport.CloseIdleConnections()
	return s.closeStore()
}

func (s *Server) closeStore() error {
	if s.ownsStore {
		return s.store.Close()
	}
	return nil
}

// UserID returns the full Matrix ID of a local user name ("alice" ->
// "@alice:server"). A full ID of this server is returned unchanged.
func (s *Server) UserID(local string) (string, error) {
	id := local
	if len(id) == 0 || id[0] != '@' {
		id = "@" + local + ":" + string(s.name)
	}
	u, err := spec.NewUserID(id, false)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidUserID, local, err)
	}
	if u.Domain() != s.name {
		return "", fmt.Errorf("%w: %s is not a user of %s", ErrInvalidUserID, id, s.name)
	}
	return id, nil
}

func now() time.Time { return time.Now() }

// RotateSigningKey retires the server's current signing key in a store, as
// of now. Call it while the Server is stopped: the next New generates a new
// key and publishes the old one in old_verify_keys, so events signed with it
// still verify.
func RotateSigningKey(ctx context.Context, st storage.Store) error {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("homeserver: rotate signing key: %w", err)
	}
	for _, k := range keys {
		if k.ExpiredTS == 0 {
			return st.ExpireSigningKey(ctx, k.KeyID, time.Now().UnixMilli())
		}
	}
	return fmt.Errorf("homeserver: rotate signing key: no current key")
}
