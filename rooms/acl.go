package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ErrServerDenied is returned when a room's m.room.server_acl does not let
// a server take part.
var ErrServerDenied = errors.New("rooms: server denied by the room's server ACL")

// ServerACL is the content of m.room.server_acl.
// https://spec.matrix.org/v1.16/client-server-api/#server-access-control-lists-acls-for-rooms
type ServerACL struct {
	Allow           []string `json:"allow"`
	Deny            []string `json:"deny"`
	AllowIPLiterals *bool    `json:"allow_ip_literals"`
}

// Allows applies the ACL to a server name, in the spec's order: the port
// is ignored; an IP literal is denied unless allow_ip_literals; a server
// matching a deny glob is denied; one matching an allow glob is allowed;
// anything else is denied.
func (a ServerACL) Allows(server spec.ServerName) bool {
	host, _, ok := spec.ParseAndValidateServerName(server)
	if !ok {
		return false
	}
	if strings.HasPrefix(host, "[") || net.ParseIP(host) != nil {
		if a.AllowIPLiterals != nil && !*a.AllowIPLiterals {
			return false
		}
	}
	for _, g := range a.Deny {
		if globMatch(g, host) {
			return false
		}
	}
	for _, g := range a.Allow {
		if globMatch(g, host) {
			return true
		}
	}
	return false
}

// globMatch matches s against a glob where * is any run of characters and
// ? is one character, case-insensitively.
func globMatch(glob, s string) bool {
	glob, s = strings.ToLower(glob), strings.ToLower(s)
	// Iterative matcher with backtracking on the last '*': linear in
	// practice, no recursion a hostile pattern could blow up.
	gi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && (glob[gi] == '?' || glob[gi] == s[si]):
			gi++
			si++
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}

// CheckServerACL returns ErrServerDenied when the room's current server ACL
// does not allow server. A room without an ACL allows everyone; an unknown
// room is not this check's business (nil).
func (e *Engine) CheckServerACL(ctx context.Context, roomID string, server spec.ServerName) error {
	ev, err := e.cfg.Store.StateEvent(ctx, roomID, "m.room.server_acl", "")
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rooms: load server ACL: %w", err)
	}
	var c struct {
		Content ServerACL `json:"content"`
	}
	if json.Unmarshal(ev.JSON, &c) != nil {
		// Malformed ACL content: the spec says to treat it as missing
		// fields, i.e. deny everything but what allow lists.
		return fmt.Errorf("%w: %s", ErrServerDenied, server)
	}
	if !c.Content.Allows(server) {
		return fmt.Errorf("%w: %s", ErrServerDenied, server)
	}
	return nil
}
