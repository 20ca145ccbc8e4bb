package ids

import (
	"errors"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ErrInvalidServerName is matched (errors.Is) by the error of
// CheckServerName.
var ErrInvalidServerName = errors.New("ids: invalid server name")

// ErrInvalidID is matched (errors.Is) by the errors of CheckRoomID,
// CheckEventID and ParseAlias.
var ErrInvalidID = errors.New("ids: invalid identifier")

// MaxIDLength is the longest room ID, event ID or alias in bytes, sigil
// included (spec appendices, Common Identifier Format).
const MaxIDLength = 255

// CheckServerName applies the server name grammar (spec appendices,
// "Server Name"): a DNS name, IPv4 literal or bracketed IPv6 literal, with
// an optional port 1-65535.
// https://spec.matrix.org/v1.16/appendices/#server-name
func CheckServerName(name string) error {
	if reason := checkServerName(name); reason != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidServerName, quoteShort(name), reason)
	}
	return nil
}

// ServerOf returns the server part of a user ID received over federation
// (historical localparts allowed), with its port or IP literal intact. It
// never splits on the last ':' by hand.
func ServerOf(userID string) (spec.ServerName, error) {
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrInvalidUserID, quoteShort(userID), err)
	}
	return u.Domain(), nil
}

// CheckRoomID checks a room ID: "!" then an opaque part, with a valid
// server name after the first ':' when there is one (room version 12
// room IDs have none), at most MaxIDLength bytes.
// https://spec.matrix.org/v1.16/appendices/#room-ids
func CheckRoomID(s string) error {
	return checkSigilled(s, '!', "room ID", false)
}

// CheckEventID checks an event ID: "$" then an opaque part (room versions
// 4 and later carry no server name), at most MaxIDLength bytes.
// https://spec.matrix.org/v1.16/appendices/#event-ids
func CheckEventID(s string) error {
	return checkSigilled(s, '$', "event ID", false)
}

// Alias is a room alias, #Localpart:Server.
type Alias struct {
	Localpart string
	Server    string
}

// String returns the alias as Matrix writes it.
func (a Alias) String() string { return "#" + a.Localpart + ":" + a.Server }

// ParseAlias parses a room alias, "#" localpart ":" server_name.
// https://spec.matrix.org/v1.16/appendices/#room-aliases
func ParseAlias(s string) (Alias, error) {
	if err := checkSigilled(s, '#', "alias", true); err != nil {
		return Alias{}, err
	}
	local, server, _ := strings.Cut(s[1:], ":")
	return Alias{Localpart: local, Server: server}, nil
}

// checkSigilled checks sigil, length, a non-empty opaque part and, when
// there is a ':' (or needServer), the server name after the first one.
func checkSigilled(s string, sigil byte, what string, needServer bool) error {
	fail := func(reason string) error {
		return fmt.Errorf("%w: %s %s: %s", ErrInvalidID, what, quoteShort(s), reason)
	}
	switch {
	case s == "":
		return fail("empty string")
	case len(s) > MaxIDLength:
		return fail(fmt.Sprintf("%d bytes long; at most %d", len(s), MaxIDLength))
	case s[0] != sigil:
		return fail(fmt.Sprintf("does not start with %q", sigil))
	}
	opaque, server, found := strings.Cut(s[1:], ":")
	if opaque == "" {
		return fail("empty localpart")
	}
	if strings.IndexByte(opaque, 0) >= 0 {
		return fail("NUL in identifier")
	}
	if !found {
		if needServer {
			return fail("missing ':' and server name")
		}
		return nil
	}
	if reason := checkServerName(server); reason != "" {
		return fail(reason)
	}
	return nil
}
