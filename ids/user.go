package ids

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidUserID is matched (errors.Is) by every error ParseUserID and
// ParseHistoricalUserID return. The error itself is a *UserIDError, which
// says why.
var ErrInvalidUserID = errors.New("ids: invalid user ID")

// MaxUserIDLength is the longest user ID in bytes, sigil and server name
// included: "The length of a user ID, including the @ sigil and the domain,
// MUST NOT exceed 255 bytes." (spec appendices, User Identifiers).
const MaxUserIDLength = 255

// UserID is a Matrix user ID, @Localpart:Server.
type UserID struct {
	// Localpart is the part between '@' and the first ':'.
	Localpart string
	// Server is the server name exactly as written, with its port if it
	// has one and with the brackets of an IPv6 literal: "example.org",
	// "example.org:8448", "1.2.3.4", "[2001:db8::1]:8448". Server names
	// are compared as strings, case-sensitively.
	Server string
}

// String returns the user ID as Matrix writes it: "@" + Localpart + ":" +
// Server. For a UserID returned by a parser it is the parsed string.
func (u UserID) String() string { return "@" + u.Localpart + ":" + u.Server }

// UserIDError says why a string is not a valid user ID. errors.Is(err,
// ErrInvalidUserID) is true for it; use errors.As to read the reason, for
// instance to show it to the user who typed the ID.
type UserIDError struct {
	// Input is the string that failed to parse.
	Input string
	// Reason is a short English explanation: "empty localpart",
	// "port 70000 is out of range 1-65535", ...
	Reason string
}

// Error implements error. A long input is shortened in the message.
func (e *UserIDError) Error() string {
	return fmt.Sprintf("%v %s: %s", ErrInvalidUserID, quoteShort(e.Input), e.Reason)
}

// Is makes errors.Is(err, ErrInvalidUserID) true.
func (e *UserIDError) Is(target error) bool { return target == ErrInvalidUserID }

// ParseUserID parses a user ID in the current grammar of the spec
// (appendices, "User Identifiers", changed in v1.8):
//
//	user_id = "@" user_id_localpart ":" server_name
//	user_id_localpart = 1*( DIGIT / %x61-7A / "-" / "." / "=" / "_" / "/" / "+" )
//
// where server_name is a DNS name, a dotted-quad IPv4 literal or a
// bracketed IPv6 literal, with an optional port 1-65535, and the whole ID
// is at most 255 bytes.
//
// This is the parser for IDs a host hands us (invite targets, the
// /federation dm command): they become state keys of events we create, so
// they must be valid IDs, and an upper-case localpart is almost always a
// typo for the lower-case one. IDs that arrive over federation as senders
// of events may be historical; parse those with ParseHistoricalUserID.
//
// The localpart ends at the first ':' (no localpart, not even a historical
// one, may contain ':'); everything after it is the server name, which
// may itself contain ':' (a port, an IPv6 literal).
func ParseUserID(s string) (UserID, error) {
	return parseUserID(s, false)
}

// ParseHistoricalUserID is ParseUserID with the localpart grammar of
// "Historical User IDs" (spec appendices): "clients and servers MUST accept
// user IDs with localparts consisting of any legal non-surrogate Unicode
// code points except for ':' and NUL (U+0000), including other control
// characters and the empty string." Use it for user IDs received over
// federation (the sender of an invite, a member of a room), never to
// create new IDs. The server name and length rules are those of
// ParseUserID.
func ParseHistoricalUserID(s string) (UserID, error) {
	return parseUserID(s, true)
}

func parseUserID(s string, historical bool) (UserID, error) {
	fail := func(format string, args ...any) (UserID, error) {
		return UserID{}, &UserIDError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case s == "":
		return fail("empty string")
	case len(s) > MaxUserIDLength:
		return fail("%d bytes long; a user ID is at most %d bytes", len(s), MaxUserIDLength)
	case s[0] != '@':
		return fail("does not start with '@'")
	}
	// Split on the FIRST ':': a localpart never contains one, a server
	// name may contain several ("[::1]:8448").
	local, server, found := strings.Cut(s[1:], ":")
	if !found {
		return fail("missing ':' between localpart and server name")
	}
	if historical {
		if reason := checkHistoricalLocalpart(local); reason != "" {
			return fail("%s", reason)
		}
	} else if reason := checkLocalpart(local); reason != "" {
		return fail("%s", reason)
	}
	if reason := checkServerName(server); reason != "" {
		return fail("%s", reason)
	}
	return UserID{Localpart: local, Server: server}, nil
}

// checkLocalpart applies the v1.8 grammar; it returns "" when valid.
func checkLocalpart(local string) string {
	if local == "" {
		return "empty localpart"
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '=', c == '_', c == '/', c == '+':
		case c >= 'A' && c <= 'Z':
			return fmt.Sprintf("upper-case %q in localpart: user IDs are lower-case", c)
		default:
			r, _ := utf8.DecodeRuneInString(local[i:])
			return fmt.Sprintf("%q is not allowed in a localpart (only a-z, 0-9 and . _ = - / +)", r)
		}
	}
	return ""
}

// checkHistoricalLocalpart accepts any valid UTF-8 without NUL (':' cannot
// occur: the localpart ends at the first one). Valid UTF-8 cannot encode a
// surrogate code point.
func checkHistoricalLocalpart(local string) string {
	if !utf8.ValidString(local) {
		return "localpart is not valid UTF-8"
	}
	if strings.IndexByte(local, 0) >= 0 {
		return "NUL in localpart"
	}
	return ""
}

// checkServerName applies the server name grammar of the spec (appendices,
// "Server Name"); it returns "" when valid:
//
//	server_name = hostname [ ":" port ]
//	hostname    = IPv4address / "[" IPv6address "]" / dns-name
//
// Upper-case letters are allowed (the spec only recommends against them;
// server names are compared case-sensitively). A DNS name must be a series
// of non-empty labels, so "example..org" and a trailing "." are refused. A
// hostname shaped like a dotted quad is an IPv4 literal and each number
// must be 0-255.
func checkServerName(name string) string {
	if name == "" {
		return "empty server name"
	}
	var host, port string
	hasPort := false
	if name[0] == '[' {
		end := strings.IndexByte(name, ']')
		if end < 0 {
			return "IPv6 literal without a closing ']'"
		}
		host = name[:end+1]
		if reason := checkIPv6(name[1:end]); reason != "" {
			return reason
		}
		switch rest := name[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			port, hasPort = rest[1:], true
		default:
			return fmt.Sprintf("unexpected %s after IPv6 literal %s", quoteShort(rest), host)
		}
	} else {
		if strings.Count(name, ":") > 1 {
			if looksLikeIPv6(name) {
				return fmt.Sprintf("%s looks like an IPv6 address without brackets; write it as in @user:[2001:db8::1]:8448", quoteShort(name))
			}
			return fmt.Sprintf("server name %s has more than one ':'", quoteShort(name))
		}
		host, port, hasPort = strings.Cut(name, ":")
		if reason := checkHostname(host); reason != "" {
			return reason
		}
	}
	if hasPort {
		return checkPort(port)
	}
	return ""
}

// checkIPv6 checks the text between the brackets: IPv6address =
// 2*45IPv6char, an RFC 3513 (section 2.2) address, no zone.
func checkIPv6(addr string) string {
	if len(addr) < 2 || len(addr) > 45 {
		return fmt.Sprintf("IPv6 literal [%s] is not 2-45 characters", shorten(addr))
	}
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			r, _ := utf8.DecodeRuneInString(addr[i:])
			return fmt.Sprintf("%q is not allowed in an IPv6 literal", r)
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() {
		return fmt.Sprintf("[%s] is not a valid IPv6 address", addr)
	}
	return ""
}

// looksLikeIPv6 reports whether name, or name without a final ":port", is
// an IPv6 address: the likely reading of "@user:2001:db8::1".
func looksLikeIPv6(name string) bool {
	if ip, err := netip.ParseAddr(name); err == nil && ip.Is6() {
		return true
	}
	if i := strings.LastIndexByte(name, ':'); i > 0 {
		if ip, err := netip.ParseAddr(name[:i]); err == nil && ip.Is6() {
			return true
		}
	}
	return false
}

// checkHostname checks a hostname that is not an IPv6 literal.
func checkHostname(host string) string {
	if host == "" {
		return "empty server name"
	}
	if isDottedQuad(host) {
		for _, part := range strings.Split(host, ".") {
			if n, _ := strconv.Atoi(part); n > 255 {
				return fmt.Sprintf("IPv4 literal %s has %s, above 255", host, part)
			}
		}
		return ""
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '.':
			if i == 0 || i == len(host)-1 || host[i-1] == '.' {
				return fmt.Sprintf("server name %s has an empty label", quoteShort(host))
			}
		case c == '[' || c == ']':
			return fmt.Sprintf("misplaced %q in server name: an IPv6 literal is written [address] or [address]:port", c)
		default:
			r, _ := utf8.DecodeRuneInString(host[i:])
			return fmt.Sprintf("%q is not allowed in a server name (only letters, digits, '-' and '.')", r)
		}
	}
	return ""
}

// isDottedQuad reports whether host has the shape of the spec's
// IPv4address: 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT.
func isDottedQuad(host string) bool {
	parts := strings.Split(host, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) < 1 || len(p) > 3 || !allDigits(p) {
			return false
		}
	}
	return true
}

// checkPort checks port = 1*5DIGIT, in 1-65535.
func checkPort(port string) string {
	switch {
	case port == "":
		return "empty port after ':'"
	case !allDigits(port):
		return fmt.Sprintf("port %s is not a number", quoteShort(port))
	case len(port) > 5:
		return fmt.Sprintf("port %s has more than 5 digits", quoteShort(port))
	}
	if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
		return fmt.Sprintf("port %s is out of range 1-65535", port)
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// shorten cuts s to a length fit for an error message.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func quoteShort(s string) string { return strconv.Quote(shorten(s)) }
