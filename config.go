package homeserver

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/embedmatrix/homeserver/storage"
)

// Config configures a Server.
type Config struct {
	// ServerName is this server's Matrix name, e.g. "chat.example.com" or
	// "localhost:8448". Required.
	ServerName string
	// Store persists everything. When nil, a SQLite store is opened at
	// DatabasePath and closed by Close; a Store passed in is left open.
	Store storage.Store
	// DatabasePath is the SQLite file used when Store is nil.
	DatabasePath string
	// Logger receives the library's logs. Nil discards them.
	Logger *slog.Logger
	// Hooks tell the host what remote users did.
	Hooks Hooks
	// DefaultRoomVersion is used for new rooms: "10" (default), "11" or "12".
	DefaultRoomVersion string

	// OutboundTLS is the client TLS configuration for requests to other
	// servers (e.g. RootCAs). Nil uses the system roots.
	OutboundTLS *tls.Config
	// InsecureSkipVerify turns off certificate checks on outbound requests.
	// For tests and development against self-signed peers only.
	InsecureSkipVerify bool
	// Resolve, when set, maps a server name to the "host:port" to dial,
	// ahead of the spec's discovery (return "" to fall back to it). Tests
	// use it to point names at loopback ports.
	Resolve func(ctx context.Context, serverName string) (string, error)

	// Roles maps the host's roles to Matrix power levels. Nil means owner
	// 100, moderator 50, user 0; a map adds roles to those (e.g. "leader":
	// 75) or moves them. Levels are read back into roles by threshold.
	Roles map[string]int64

	// Receipts sends our users' read receipts (MarkRead) to the other
	// servers in a room and accepts theirs (Hooks.OnReceipt). On by
	// default; when off none are sent and none surfaced.
	Receipts Switch
	// Typing sends our users' typing notifications (Typing) and accepts
	// other servers' (Hooks.OnTyping). On by default; when off none are
	// sent and none surfaced.
	Typing Switch
	// Presence sends our users' presence (SetPresence) to the servers
	// sharing a room with them and accepts theirs (Hooks.OnPresence). On
	// by default; when off none are sent and none surfaced (SetPresence
	// still records our users' presence for Server.Presence).
	Presence Switch
	// TypingTimeout is how long a user counts as typing after the last
	// word that they are (default 30 s).
	TypingTimeout time.Duration

	// UserExists lets the host say which local users exist: it is asked
	// with a localpart ("alice") when another server asks about one of our
	// users (its devices or keys), and an unknown user gets 404
	// M_NOT_FOUND. The host's database decides, not the library's. Nil
	// means any syntactically valid user ID of this server exists.
	UserExists func(ctx context.Context, localpart string) (bool, error)
	// ProfileTTL is how long a remote user's profile fetched with
	// /query/profile is used before it is asked again (default 1 h).
	ProfileTTL time.Duration

	// MaxBodyBytes bounds inbound request bodies (default 8 MiB).
	MaxBodyBytes int64
	// WellKnownServer is served as m.server in /.well-known/matrix/server
	// (default: ServerName).
	WellKnownServer string
}

// Switch turns an optional feature on or off in Config. The zero value
// leaves the feature at its default.
type Switch uint8

// Switch values.
const (
	// SwitchDefault leaves the feature as documented on its Config field.
	SwitchDefault Switch = iota
	// SwitchOn turns the feature on.
	SwitchOn
	// SwitchOff turns the feature off.
	SwitchOff
)
