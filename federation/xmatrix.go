package federation

import (
	"errors"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// XMatrix is one parsed "Authorization: X-Matrix ..." header.
// https://spec.matrix.org/v1.16/server-server-api/#request-authentication
type XMatrix struct {
	Origin      spec.ServerName
	Destination spec.ServerName // empty when the sender left it out
	Key         gomatrixserverlib.KeyID
	Sig         string
}

var errNotXMatrix = errors.New("not an X-Matrix authorization")

// ParseXMatrix parses an Authorization header value. Per the spec (RFC 9110
// auth-param syntax): the scheme, one or more spaces, then comma-separated
// name=value pairs with optional whitespace around commas; names are case
// insensitive, values are tokens or quoted strings with backslash escapes,
// and unknown parameters are ignored. Server names may carry a port or be
// an IPv6 literal, so values are never split on ':'.
func ParseXMatrix(header string) (XMatrix, error) {
	var x XMatrix
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "X-Matrix") {
		return x, errNotXMatrix
	}
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return x, errors.New("X-Matrix: parameter without a value")
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			closed := false
			for ; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return x, errors.New("X-Matrix: unterminated quoted value")
			}
			value = b.String()
			rest = rest[i+1:]
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			value = rest[:end]
			rest = rest[end:]
		}
		switch name {
		case "origin":
			x.Origin = spec.ServerName(value)
		case "destination":
			x.Destination = spec.ServerName(value)
		case "key":
			x.Key = gomatrixserverlib.KeyID(value)
		case "sig":
			x.Sig = value
		}
	}
	if x.Origin == "" || x.Key == "" || x.Sig == "" {
		return x, errors.New("X-Matrix: origin, key and sig are required")
	}
	return x, nil
}
