// Package storage defines the Store interface every homeserver store
// implements, and the plain record types that cross it.
//
// A Store owns persistence only: it never checks signatures or auth rules
// and never talks to the network. Packages above it (rooms, federation, the
// root package) depend on the few methods they use through their own narrow
// interfaces; Store is the union a backend must provide. The conformance
// suite in storage/storetest states the contract as tests, and every
// backend (storage/sqlite, and later storage/postgres) must pass it.
//
// This package must not import any other package of the module.
package storage

import (
	"context"
	"errors"
)

// ErrNotFound is returned (wrapped) when a requested record does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrExists is returned (wrapped) when a record that must be new exists
// already (an alias taken by a room).
var ErrExists = errors.New("storage: already exists")

// EventStatus says how the homeserver judged a stored event.
type EventStatus int

const (
	// StatusAccepted events passed every check and are part of the room.
	StatusAccepted EventStatus = iota
	// StatusRejected events failed auth against their auth events. They are
	// kept only so they are not fetched again; they never change state and
	// never reach the host.
	StatusRejected
	// StatusSoftFailed events passed auth against their auth events but not
	// against the current state. They never change state nor reach the host.
	StatusSoftFailed
	// StatusParked events wait for prev events that could not be fetched:
	// neither accepted nor rejected, they are checked again when a missing
	// prev event arrives. They never change state nor reach the host.
	StatusParked
)

// String returns the status as it is written in the store.
func (s EventStatus) String() string {
	switch s {
	case StatusAccepted:
		return "accepted"
	case StatusRejected:
		return "rejected"
	case StatusSoftFailed:
		return "soft_failed"
	case StatusParked:
		return "parked"
	}
	return "unknown"
}

// Room is the store's record of a room this server takes part in.
type Room struct {
	RoomID    string
	Version   string // the room version, e.g. "10"
	CreatedTS int64  // when this server first stored the room, ms since epoch
	// CurrentSnapshot is the state snapshot of the room's current state
	// (0 until one is recorded).
	CurrentSnapshot int64
}

// StateEntry is one entry of a room state: the event holding a
// (type, state_key). In a snapshot delta an empty EventID removes the key.
type StateEntry struct {
	Type     string
	StateKey string
	EventID  string
}

// Event is one PDU as stored. JSON is the full signed event exactly as it
// must be served to other servers; the other fields are copies of values
// inside it, kept for queries.
type Event struct {
	EventID        string
	RoomID         string
	Type           string
	StateKey       *string // nil for non-state events
	Sender         string
	Depth          int64
	OriginServerTS int64
	PrevEvents     []string
	JSON           []byte
	Status         EventStatus
	RejectReason   string // why the event was rejected, soft-failed or parked
	// StateBefore and StateAfter are the snapshots of the room state before
	// the event (the spec's "state at the event") and after it; they are
	// equal for a non-state event. Both are 0 for an outlier: an event
	// known only as auth or state of others, whose own state is unknown.
	StateBefore int64
	StateAfter  int64
	// StreamPos is assigned by the store when the event is first persisted:
	// strictly increasing across the whole store, in persist order.
	StreamPos int64
	// RedactedBy is the ID of the redaction applied to this event (see
	// RoomWrite.Redact), whose JSON is then the redacted form; "" when the
	// event is whole. It is returned by every read. An event written with
	// it set is stored as already redacted, and gains no relation row.
	RedactedBy string
}

// EventUpdate is one event to persist together with what it changes.
type EventUpdate struct {
	Event Event
	// SetState makes the event the current state for its (type, state_key).
	// Ignored for non-state events and for events that are not accepted.
	SetState bool
	// Extremity lets the event take part in forward extremities: its
	// prev_events stop being extremities, and it becomes one unless a stored
	// event already lists it as a prev_event. Outliers (state and auth
	// events received out of band) leave it false.
	Extremity bool
	// Destinations are servers the event must be sent to. The PDU is queued
	// for each of them in the same transaction that stores the event, as
	// the event is stored: the JSON as given, or, for a replaced event
	// that was redacted, its redacted JSON (see RoomWrite.Redact for
	// redactions that come later).
	Destinations []string
	// Relation indexes the event as a relation when it is accepted; nil for
	// none. It is written in the same transaction as the event, only when
	// the event is accepted and its row is newly written or rewritten (an
	// event already stored and skipped leaves its relation row alone; a
	// parked event or an outlier written again as accepted gains it). Its
	// EventID and RoomID must be the event's or empty (the store fills
	// them); TargetID and RelType must not be empty. One row per EventID.
	Relation *Relation
}

// Relation is an accepted event's m.relates_to link to another event,
// indexed so edits, reactions and thread replies can be aggregated.
type Relation struct {
	EventID        string // the relating event (an edit, a reaction, a thread reply...)
	RoomID         string
	TargetID       string // m.relates_to.event_id
	RelType        string // "m.replace", "m.annotation", "m.thread", "m.reference" or any other
	Key            string // m.annotation's key; "" otherwise
	Sender         string
	Type           string // the relating event's type, e.g. "m.reaction"
	OriginServerTS int64
	StreamPos      int64 // filled by the store on reads: the relating event's StreamPos
}

// Redaction is an accepted m.room.redaction as the store keeps it: applied
// to its target, or waiting for the target to arrive.
type Redaction struct {
	RedactionID string // the m.room.redaction event's ID
	RoomID      string
	TargetID    string // the event it redacts
	Sender      string
	// ByPower is true when the sender held the room's redact power level in
	// the state before the redaction (so it applies to anyone's event).
	ByPower bool
	// Applied is true once the target was replaced by its redacted form.
	Applied bool
}

// RedactedEvent replaces a stored event's JSON by its redacted form.
type RedactedEvent struct {
	EventID    string
	JSON       []byte // the redacted event, unsigned.redacted_because included
	RedactedBy string // the redaction's event ID
}

// RoomWrite is one atomic change to a room: either all of it is stored or
// none of it is.
type RoomWrite struct {
	// Room, when set, creates the room record if it does not exist yet.
	Room *Room
	// Events are persisted in order. An event already stored is left as it
	// is (its update is skipped, and its existing StreamPos is reported) —
	// except a parked event, and an outlier (StateBefore 0) written again
	// with a StateBefore: a new write replaces those, with a new StreamPos.
	// A replaced event that was redacted stays redacted: it keeps its
	// redacted JSON and RedactedBy, and gains no relation row.
	Events []EventUpdate
	// Redactions records redactions (by RedactionID). A second write of the
	// same ID changes nothing but Applied, and that only to true, never
	// back.
	Redactions []Redaction
	// Redact is applied after Events, in the same transaction: each entry
	// replaces the stored event's JSON, sets its RedactedBy, and removes the
	// event's Relation row (a redacted edit or reaction no longer
	// aggregates). An entry may target an event written by the same write's
	// Events. Redacting an event that is not stored is an error matching
	// ErrNotFound (nothing of the write is stored); redacting an
	// already-redacted event replaces its JSON again. EventID and
	// RedactedBy must not be empty.
	//
	// The event's PDUs queued for other servers (EventUpdate.Destinations)
	// that are not yet part of a transaction get the redacted JSON as
	// payload in the same transaction, so a deleted event is never sent
	// whole once the redaction is stored. Copies already handed out by
	// NextTransaction in a transaction not yet acknowledged keep their
	// payload: a transaction keeps the same TxnID and content until it is
	// acknowledged, and the destination receives the redaction after it.
	Redact []RedactedEvent
	// StateDelta is applied to the room's current state after the events:
	// each entry replaces its (type, state_key); an empty EventID removes it.
	StateDelta []StateEntry
	// CurrentSnapshot, when non-zero, becomes the room's CurrentSnapshot.
	CurrentSnapshot int64
	// ResetExtremities clears the forward extremities of the room named by
	// Room before the events are applied: a server rejoining a room it had
	// left starts again from its join, and what it knew before is history.
	ResetExtremities bool
}

// Invite states, as the host sees them.
const (
	InvitePending  = "pending"
	InviteAccepted = "accepted"
	InviteRejected = "rejected"
	InviteRevoked  = "revoked"
)

// Invite directions.
const (
	InviteInbound  = "in"  // a remote user invited one of our users
	InviteOutbound = "out" // one of our users invited a remote user
)

// Invite is one (room, invitee) invite and where its lifecycle stands.
type Invite struct {
	RoomID      string
	UserID      string // the invitee
	Inviter     string
	Direction   string // InviteInbound or InviteOutbound
	EventID     string
	RoomVersion string
	EventJSON   []byte // the invite event signed by both servers
	// RoomState is the stripped invite_room_state, a JSON array.
	RoomState []byte
	State     string // one of the Invite* states
	CreatedTS int64
	UpdatedTS int64
}

// SigningKey is one of this server's own ed25519 signing keys.
type SigningKey struct {
	KeyID     string // "ed25519:abc"
	Seed      []byte // the 32-byte ed25519 seed
	CreatedTS int64
	// ExpiredTS is zero for the current key, and the time the key stopped
	// being used for an old one (published in old_verify_keys).
	ExpiredTS int64
}

// RemoteKey is a verify key of another server, cached after it was fetched
// and checked.
type RemoteKey struct {
	ServerName   string
	KeyID        string
	PublicKey    []byte
	ValidUntilTS int64 // ms; the key is valid for signatures up to this time
	ExpiredTS    int64 // non-zero for keys seen in old_verify_keys
	// Response is the raw, self-signed /_matrix/key/v2/server response the
	// key came from, so a notary can serve it unchanged.
	Response []byte
}

// Outbound payload kinds.
const (
	KindPDU = "pdu"
	KindEDU = "edu"
)

// Transaction is a batch of queued PDUs and EDUs for one destination,
// under a transaction ID that stays the same until it is acknowledged.
type Transaction struct {
	Destination string
	TxnID       string
	PDUs        [][]byte
	EDUs        [][]byte
}

// Receipt is the newest receipt of one type (e.g. "m.read") by one user
// in one room: the user had read up to EventID at TS.
type Receipt struct {
	RoomID  string
	UserID  string
	Type    string
	EventID string
	TS      int64 // ms since epoch
}

// Profile is a user's display name and avatar: a local user's as they
// set it, or a remote user's as another server answered it.
type Profile struct {
	UserID      string
	DisplayName string // "" for none
	AvatarURL   string // an mxc:// URI, or "" for none
	// TS is when the profile was set (a local profile) or fetched (a
	// cached remote profile), ms since epoch.
	TS int64
}

// Alias is a room alias of this server and the room it names.
type Alias struct {
	Alias  string // "#name:our.server"
	RoomID string
	// Servers are the servers to join the room through, as known when the
	// alias was created (the directory answers with the room's current
	// servers when it can).
	Servers   []string
	Creator   string // the user who created the alias
	CreatedTS int64  // ms since epoch
}

// Store is everything a homeserver persists.
//
// Contract: every method is safe for concurrent use by many goroutines and
// by several Server values sharing nothing but the Store's own file or
// connection. Writes are atomic: a method that returns an error has stored
// nothing. Returned slices and byte slices belong to the caller. Lookups of
// a missing single record return an error matching ErrNotFound.
type Store interface {
	// SigningKeys returns this server's own keys, the current one
	// (ExpiredTS == 0) first, then old ones, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores a new key. Storing a key ID that exists is an error.
	AddSigningKey(ctx context.Context, key SigningKey) error
	// ExpireSigningKey marks a key as old from the given time.
	ExpireSigningKey(ctx context.Context, keyID string, expiredTS int64) error

	// RemoteKeys returns the cached keys of a server (any validity).
	RemoteKeys(ctx context.Context, serverName string) ([]RemoteKey, error)
	// StoreRemoteKeys inserts or replaces keys by (server name, key ID).
	// A key already cached with a later ValidUntilTS is kept.
	StoreRemoteKeys(ctx context.Context, keys []RemoteKey) error

	// Room returns a room's record.
	Room(ctx context.Context, roomID string) (Room, error)
	// Rooms returns every room, oldest first.
	Rooms(ctx context.Context) ([]Room, error)
	// WriteRoom applies a RoomWrite atomically and returns the StreamPos of
	// each of its events, in order. Events must belong to an existing room
	// or to the room created by the same write.
	WriteRoom(ctx context.Context, w RoomWrite) ([]int64, error)

	// Event returns one event by ID, whatever its status.
	Event(ctx context.Context, eventID string) (Event, error)
	// Events returns the events among ids that are stored, in no set order.
	Events(ctx context.Context, ids []string) ([]Event, error)
	// RoomEvents returns the accepted events of a room with StreamPos
	// greater than after, in stream order, at most limit of them.
	RoomEvents(ctx context.Context, roomID string, after int64, limit int) ([]Event, error)
	// EventsByTime returns the accepted events of a room by
	// origin_server_ts, at most limit of them (none if limit is not
	// positive). Forward, they are those with OriginServerTS >= ts in
	// ascending (OriginServerTS, StreamPos) order; otherwise those with
	// OriginServerTS <= ts in descending (OriginServerTS, StreamPos)
	// order. It reads an index, not the whole room.
	EventsByTime(ctx context.Context, roomID string, ts int64, forward bool, limit int) ([]Event, error)
	// CurrentState returns the room's current state events.
	CurrentState(ctx context.Context, roomID string) ([]Event, error)
	// StateEvent returns the current state event for (type, state key).
	StateEvent(ctx context.Context, roomID, eventType, stateKey string) (Event, error)
	// ForwardExtremities returns the IDs of the room's forward extremities,
	// sorted.
	ForwardExtremities(ctx context.Context, roomID string) ([]string, error)
	// ChildEvents returns the stored events (any status) that list eventID
	// among their prev_events.
	ChildEvents(ctx context.Context, eventID string) ([]Event, error)

	// RedactionsFor returns the recorded redactions whose target is among
	// targetIDs, applied or not, in the order they were recorded.
	RedactionsFor(ctx context.Context, targetIDs []string) ([]Redaction, error)
	// Relations returns the relations whose TargetID is among targetIDs
	// (any room), of events that are accepted and not redacted, ordered by
	// StreamPos. relType "" means every type.
	Relations(ctx context.Context, targetIDs []string, relType string) ([]Relation, error)

	// WriteSnapshot stores a room state as delta entries over a parent
	// snapshot (0 for none) and returns its ID. An entry with an empty
	// EventID removes its key. With a parent and no delta it returns the
	// parent. Snapshots are immutable and shared by every event with that
	// state; the store keeps them as deltas or full copies as it sees fit,
	// never a full copy per event.
	WriteSnapshot(ctx context.Context, roomID string, parent int64, delta []StateEntry) (int64, error)
	// Snapshot returns the full state of a snapshot, sorted by (type,
	// state_key).
	Snapshot(ctx context.Context, id int64) ([]StateEntry, error)

	// PutInvite inserts or replaces the invite for (room, invitee).
	PutInvite(ctx context.Context, inv Invite) error
	// Invite returns the invite for (room, invitee).
	Invite(ctx context.Context, roomID, userID string) (Invite, error)
	// Invites returns the invites of a user, newest first.
	Invites(ctx context.Context, userID string) ([]Invite, error)
	// RoomInvites returns the invites into a room, newest first.
	RoomInvites(ctx context.Context, roomID string) ([]Invite, error)
	// SetInviteState moves an invite to a new state at time ts.
	SetInviteState(ctx context.Context, roomID, userID, state string, ts int64) error

	// EnqueueEDU queues an EDU (its full JSON) for a destination.
	EnqueueEDU(ctx context.Context, destination string, edu []byte) error
	// PendingDestinations lists the destinations with anything queued.
	PendingDestinations(ctx context.Context) ([]string, error)
	// NextTransaction returns the destination's unacknowledged transaction
	// if there is one (same TxnID and content as before, even across a
	// restart); otherwise it assigns a new TxnID to the oldest queued items,
	// at most maxPDUs PDUs and maxEDUs EDUs, in queue order. It returns
	// ErrNotFound when nothing is queued.
	NextTransaction(ctx context.Context, destination string, maxPDUs, maxEDUs int) (Transaction, error)
	// CompleteTransaction removes an acknowledged transaction's items.
	CompleteTransaction(ctx context.Context, destination, txnID string) error

	// PutReceipt inserts or replaces the receipt for (room, user, type),
	// keeping the newest: a receipt with an older TS than the stored one
	// is ignored; one with an equal or newer TS replaces it.
	PutReceipt(ctx context.Context, r Receipt) error
	// Receipts returns the room's receipts that point at eventID, or every
	// receipt of the room when eventID is empty, ordered by TS then UserID
	// then Type.
	Receipts(ctx context.Context, roomID, eventID string) ([]Receipt, error)

	// SetLocalProfile inserts or replaces the profile of one of this
	// server's users (by UserID).
	SetLocalProfile(ctx context.Context, p Profile) error
	// LocalProfile returns the profile of one of this server's users; an
	// error matching ErrNotFound when none was ever set.
	LocalProfile(ctx context.Context, userID string) (Profile, error)
	// CacheRemoteProfile inserts or replaces the cached profile of another
	// server's user (by UserID); TS is when it was fetched.
	CacheRemoteProfile(ctx context.Context, p Profile) error
	// RemoteProfile returns the cached profile of another server's user,
	// however old; an error matching ErrNotFound when none is cached.
	RemoteProfile(ctx context.Context, userID string) (Profile, error)

	// PutAlias creates an alias. An alias that exists already, for any
	// room, is an error matching ErrExists, and nothing is changed.
	PutAlias(ctx context.Context, a Alias) error
	// Alias returns an alias's record.
	Alias(ctx context.Context, alias string) (Alias, error)
	// RoomAliases returns the aliases of a room, sorted by alias.
	RoomAliases(ctx context.Context, roomID string) ([]Alias, error)
	// DeleteAlias removes an alias; a missing one is an error matching
	// ErrNotFound.
	DeleteAlias(ctx context.Context, alias string) error
	// SetPublished puts a room in this server's public room directory, or
	// takes it out. Either is idempotent; the room need not be stored.
	SetPublished(ctx context.Context, roomID string, published bool) error
	// PublishedRooms returns the IDs of the rooms in the directory, sorted.
	PublishedRooms(ctx context.Context) ([]string, error)

	// InboundTransaction returns the stored response to a transaction an
	// origin already sent us.
	InboundTransaction(ctx context.Context, origin, txnID string) ([]byte, error)
	// SaveInboundTransaction stores the response given to a transaction.
	SaveInboundTransaction(ctx context.Context, origin, txnID string, response []byte) error

	// Close releases the store's resources.
	Close() error
}
