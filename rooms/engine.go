package rooms

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Store is the part of storage.Store rooms uses.
type Store interface {
	Room(ctx context.Context, roomID string) (storage.Room, error)
	WriteRoom(ctx context.Context, w storage.RoomWrite) ([]int64, error)
	Event(ctx context.Context, eventID string) (storage.Event, error)
	Events(ctx context.Context, ids []string) ([]storage.Event, error)
	CurrentState(ctx context.Context, roomID string) ([]storage.Event, error)
	StateEvent(ctx context.Context, roomID, eventType, stateKey string) (storage.Event, error)
	ForwardExtremities(ctx context.Context, roomID string) ([]string, error)
	ChildEvents(ctx context.Context, eventID string) ([]storage.Event, error)
	RoomEvents(ctx context.Context, roomID string, after int64, limit int) ([]storage.Event, error)
	EventsByTime(ctx context.Context, roomID string, ts int64, forward bool, limit int) ([]storage.Event, error)
	WriteSnapshot(ctx context.Context, roomID string, parent int64, delta []storage.StateEntry) (int64, error)
	Snapshot(ctx context.Context, id int64) ([]storage.StateEntry, error)
	RedactionsFor(ctx context.Context, targetIDs []string) ([]storage.Redaction, error)
}

// Signer is the key this server signs its events with.
type Signer struct {
	ServerName spec.ServerName
	KeyID      gomatrixserverlib.KeyID
	PrivateKey ed25519.PrivateKey
}

// Accepted is an event that passed every check and was persisted.
type Accepted struct {
	Event     gomatrixserverlib.PDU
	StreamPos int64
	// Local is true for events built on this server.
	Local bool
	// Historical is true for older history fetched by backfill.
	Historical bool
	// Replaced is, for a state event, the event that held its (type,
	// state_key) in the state before it; nil when there was none.
	Replaced gomatrixserverlib.PDU
	// Redacted is, for a redaction applied as it was accepted, its target
	// as it was before (JSON and all); nil otherwise (a redaction without
	// the power, or whose target has not arrived yet).
	Redacted *storage.Event
}

// Config holds what an Engine needs.
type Config struct {
	Signer   Signer
	Store    Store
	Verifier gomatrixserverlib.JSONVerifier
	Logger   *slog.Logger
	// OnAccepted is called after an accepted event is persisted, in the
	// order events were persisted within a room. It must not block.
	OnAccepted func(Accepted)
	// OnQueued is called with the destinations that got new PDUs queued.
	OnQueued func(destinations []string)
	// Remote fetches missing events and state from other servers. Nil
	// turns gap filling off: events with unknown prev_events are parked.
	Remote Remote
}

// Engine builds, checks and persists the events of every room this server
// takes part in. It is safe for concurrent use; work on one room is
// serialised, rooms proceed in parallel.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex

	snaps  snapshotCache
	events eventCache
}

// Sentinel errors a caller can match with errors.Is.
var (
	ErrUnknownRoom            = errors.New("rooms: unknown room")
	ErrUnsupportedRoomVersion = errors.New("rooms: unsupported room version")
	ErrNotAllowed             = errors.New("rooms: not allowed by the auth rules")
	ErrBadEvent               = errors.New("rooms: malformed event")
	ErrBadSignature           = errors.New("rooms: bad signature")
	ErrMissingAuthEvents      = errors.New("rooms: auth events missing")
)

// SupportedVersions are the room versions this server joins and creates.
var SupportedVersions = []gomatrixserverlib.RoomVersion{
	gomatrixserverlib.RoomVersionV10,
	gomatrixserverlib.RoomVersionV11,
	gomatrixserverlib.RoomVersionV12,
}

// New returns an Engine.
func New(cfg Config) *Engine {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnAccepted == nil {
		cfg.OnAccepted = func(Accepted) {}
	}
	if cfg.OnQueued == nil {
		cfg.OnQueued = func([]string) {}
	}
	return &Engine{cfg: cfg, log: log, locks: map[string]*sync.Mutex{}}
}

// ServerName is the name of the server this engine signs for.
func (e *Engine) ServerName() spec.ServerName { return e.cfg.Signer.ServerName }

// lock serialises work on one room.
func (e *Engine) lock(roomID string) func() {
	e.mu.Lock()
	l, ok := e.locks[roomID]
	if !ok {
		l = &sync.Mutex{}
		e.locks[roomID] = l
	}
	e.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Version returns the implementation of a supported room version.
func Version(v string) (gomatrixserverlib.IRoomVersion, error) {
	for _, s := range SupportedVersions {
		if string(s) == v {
			return gomatrixserverlib.MustGetRoomVersion(s), nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedRoomVersion, v)
}

// roomVersion returns the version of a stored room.
func (e *Engine) roomVersion(ctx context.Context, roomID string) (gomatrixserverlib.IRoomVersion, error) {
	room, err := e.cfg.Store.Room(ctx, roomID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: load room: %w", err)
	}
	return Version(room.Version)
}

// RoomVersion returns the version of a room this server knows.
func (e *Engine) RoomVersion(ctx context.Context, roomID string) (string, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return "", err
	}
	return string(v.Version()), nil
}

// UserIDForSender maps a sender to a user ID. Rooms this server supports
// have no pseudo IDs, so the sender is the user ID.
func UserIDForSender(_ spec.RoomID, senderID spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(senderID), true)
}
