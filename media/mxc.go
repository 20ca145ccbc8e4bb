package media

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/embedmatrix/homeserver/ids"
)

// MaxMediaIDLength is the longest media ID accepted, in bytes.
const MaxMediaIDLength = 255

const mxcScheme = "mxc://"

// ParseMXC splits an mxc://server/mediaID URI. The server name must follow
// the spec's grammar and the media ID must pass ValidMediaID, so neither
// can carry a path, a query or "..".
// https://spec.matrix.org/v1.16/client-server-api/#matrix-content-mxc-uris
func ParseMXC(uri string) (server, mediaID string, err error) {
	rest, ok := strings.CutPrefix(uri, mxcScheme)
	if !ok {
		return "", "", fmt.Errorf("%w: no mxc:// scheme", ErrInvalidMXC)
	}
	server, mediaID, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: no media ID", ErrInvalidMXC)
	}
	if err := ids.CheckServerName(server); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidMXC, err)
	}
	if !ValidMediaID(mediaID) {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidMXC, ErrInvalidMediaID)
	}
	return server, mediaID, nil
}

// MXC formats the mxc:// URI of a media ID on a server. It does not
// validate; ParseMXC does.
func MXC(server, mediaID string) string {
	return mxcScheme + server + "/" + mediaID
}

// ValidMediaID reports whether id is 1 to MaxMediaIDLength characters of
// [A-Za-z0-9_-], the spec's media ID alphabet: safe in a path or file name.
// https://spec.matrix.org/v1.16/client-server-api/#security-considerations-5
func ValidMediaID(id string) bool {
	if len(id) == 0 || len(id) > MaxMediaIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckMediaID returns an error matching ErrInvalidMediaID when
// ValidMediaID(id) is false.
func CheckMediaID(id string) error {
	if !ValidMediaID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidMediaID, truncate(id, 40))
	}
	return nil
}

// NewMediaID returns a random media ID: 24 bytes of crypto/rand in
// unpadded URL-safe base64 (32 characters, always ValidMediaID).
func NewMediaID() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
