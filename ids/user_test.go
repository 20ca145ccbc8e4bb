package ids

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestParseUserID(t *testing.T) {
	tests := map[string]struct {
		in     string
		local  string
		server string
	}{
		// The spec's own server name examples (appendices, Server Name).
		"dns name":              {"@alice:matrix.org", "alice", "matrix.org"},
		"dns name with port":    {"@alice:matrix.org:8888", "alice", "matrix.org:8888"},
		"ipv4":                  {"@alice:1.2.3.4", "alice", "1.2.3.4"},
		"ipv4 with port":        {"@alice:1.2.3.4:1234", "alice", "1.2.3.4:1234"},
		"ipv6":                  {"@alice:[1234:5678::abcd]", "alice", "[1234:5678::abcd]"},
		"ipv6 with port":        {"@alice:[1234:5678::abcd]:5678", "alice", "[1234:5678::abcd]:5678"},
		"ipv6 loopback":         {"@bob:[::1]:8448", "bob", "[::1]:8448"},
		"ipv6 upper-case hex":   {"@bob:[2001:DB8::1]", "bob", "[2001:DB8::1]"},
		"ipv6 with ipv4 tail":   {"@bob:[::ffff:1.2.3.4]", "bob", "[::ffff:1.2.3.4]"},
		"every localpart char":  {"@a-z.0_9=x/y+z:example.org", "a-z.0_9=x/y+z", "example.org"},
		"digits only":           {"@1234:example.org", "1234", "example.org"},
		"single label host":     {"@alice:localhost", "alice", "localhost"},
		"upper-case server":     {"@alice:Example.ORG", "alice", "Example.ORG"},
		"hyphenated host":       {"@alice:my-server.example", "alice", "my-server.example"},
		"port 1":                {"@alice:example.org:1", "alice", "example.org:1"},
		"port 65535":            {"@alice:example.org:65535", "alice", "example.org:65535"},
		"ipv4 0 and 255":        {"@a:0.0.0.255", "a", "0.0.0.255"},
		"all-digit dns name":    {"@a:1.2.3", "a", "1.2.3"},
		"five-part digits name": {"@a:1.2.3.4.5", "a", "1.2.3.4.5"},
		"255 bytes":             {"@" + strings.Repeat("a", 255-len("@:example.org")) + ":example.org", strings.Repeat("a", 255-len("@:example.org")), "example.org"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u, err := ParseUserID(tc.in)
			if err != nil {
				t.Fatalf("ParseUserID(%q): %v", tc.in, err)
			}
			if u.Localpart != tc.local || u.Server != tc.server {
				t.Errorf("ParseUserID(%q) = {%q, %q}, want {%q, %q}", tc.in, u.Localpart, u.Server, tc.local, tc.server)
			}
			if u.String() != tc.in {
				t.Errorf("String() = %q, want %q", u.String(), tc.in)
			}
			// gomatrixserverlib agrees that the ID is valid, except for
			// '+', which its strict grammar predates (spec v1.8 added it).
			if _, err := spec.NewUserID(tc.in, false); err != nil && !strings.Contains(u.Localpart, "+") {
				t.Errorf("gomatrixserverlib refuses %q: %v", tc.in, err)
			}
		})
	}
}

func TestParseUserIDErrors(t *testing.T) {
	tests := map[string]struct {
		in     string
		reason string // a part of UserIDError.Reason
	}{
		"empty":                   {"", "empty string"},
		"no sigil":                {"alice:example.org", "does not start with '@'"},
		"room id":                 {"!room:example.org", "does not start with '@'"},
		"missing colon":           {"@alice", "missing ':'"},
		"empty localpart":         {"@:example.org", "empty localpart"},
		"upper-case localpart":    {"@Alice:example.org", "upper-case 'A'"},
		"space in localpart":      {"@al ice:example.org", "' ' is not allowed"},
		"non-ascii localpart":     {"@álice:example.org", "'á' is not allowed"},
		"hash in localpart":       {"@a#b:example.org", "'#' is not allowed"},
		"empty server":            {"@alice:", "empty server name"},
		"only a port":             {"@alice::8448", "empty server name"},
		"empty port":              {"@alice:example.org:", "empty port"},
		"port 0":                  {"@alice:example.org:0", "out of range"},
		"port 65536":              {"@alice:example.org:65536", "out of range"},
		"port 99999":              {"@alice:example.org:99999", "out of range"},
		"port six digits":         {"@alice:example.org:008448", "more than 5 digits"},
		"port not a number":       {"@alice:example.org:http", "not a number"},
		"negative port":           {"@alice:example.org:-1", "not a number"},
		"port with plus":          {"@alice:example.org:+80", "not a number"},
		"two ports":               {"@alice:example.org:80:90", "more than one ':'"},
		"unbracketed ipv6":        {"@alice:2001:db8::1", "without brackets"},
		"unbracketed ipv6 port":   {"@alice:2001:db8::1:8448", "without brackets"},
		"unbracketed loopback":    {"@alice:::1", "without brackets"},
		"ipv6 unclosed":           {"@alice:[::1", "closing ']'"},
		"ipv6 junk after":         {"@alice:[::1]x", "unexpected"},
		"ipv6 bad port":           {"@alice:[::1]:0", "out of range"},
		"ipv6 empty port":         {"@alice:[::1]:", "empty port"},
		"ipv6 not an address":     {"@alice:[1:2:3]", "not a valid IPv6"},
		"ipv6 with zone":          {"@alice:[fe80::1%eth0]", "'%' is not allowed"},
		"ipv6 empty":              {"@alice:[]", "not 2-45"},
		"ipv4 in brackets":        {"@alice:[1.2.3.4]", "not a valid IPv6"},
		"ipv4 octet 256":          {"@alice:1.2.3.256", "above 255"},
		"ipv4 octet 999 port":     {"@alice:999.1.1.1:80", "above 255"},
		"stray bracket":           {"@alice:example]org", "misplaced ']'"},
		"underscore in host":      {"@alice:ex_ample.org", "'_' is not allowed"},
		"empty label":             {"@alice:example..org", "empty label"},
		"trailing dot":            {"@alice:example.org.", "empty label"},
		"leading dot":             {"@alice:.example.org", "empty label"},
		"slash in host":           {"@alice:example.org/path", "'/' is not allowed"},
		"too long":                {"@" + strings.Repeat("a", 256-len("@:example.org")) + ":example.org", "256 bytes long"},
		"huge":                    {"@" + strings.Repeat("a", 1<<20), "bytes long"},
		"nul in localpart":        {"@a\x00b:example.org", "is not allowed"},
		"non-utf8 localpart":      {"@a\xffb:example.org", "is not allowed"},
		"host has unicode":        {"@alice:exämple.org", "'ä' is not allowed"},
		"whitespace around":       {" @alice:example.org", "does not start with '@'"},
		"trailing whitespace":     {"@alice:example.org ", "' ' is not allowed"},
		"upper-case after digits": {"@a1B:example.org", "upper-case 'B'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u, err := ParseUserID(tc.in)
			if err == nil {
				t.Fatalf("ParseUserID(%q) = %+v, want an error", tc.in, u)
			}
			if !errors.Is(err, ErrInvalidUserID) {
				t.Errorf("error %v does not match ErrInvalidUserID", err)
			}
			var idErr *UserIDError
			if !errors.As(err, &idErr) {
				t.Fatalf("error %v is not a *UserIDError", err)
			}
			if !strings.Contains(idErr.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", idErr.Reason, tc.reason)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
			if u != (UserID{}) {
				t.Errorf("got %+v with the error, want the zero UserID", u)
			}
		})
	}
}

func TestParseHistoricalUserID(t *testing.T) {
	tests := map[string]struct {
		in    string
		valid bool
		local string
	}{
		"compliant":             {"@alice:example.org", true, "alice"},
		"upper-case":            {"@Alice:example.org", true, "Alice"},
		"empty localpart":       {"@:example.org", true, ""},
		"unicode":               {"@ünïcödé☃:example.org", true, "ünïcödé☃"},
		"space and punctuation": {"@a b#c!d:example.org", true, "a b#c!d"},
		"control character":     {"@a\x01b:example.org", true, "a\x01b"},
		"nul":                   {"@a\x00b:example.org", false, ""},
		"invalid utf-8":         {"@a\xffb:example.org", false, ""},
		"encoded surrogate":     {"@a\xed\xa0\x80b:example.org", false, ""},
		"bad server still bad":  {"@Alice:2001:db8::1", false, ""},
		"too long still bad":    {"@" + strings.Repeat("é", 200) + ":example.org", false, ""},
		"no colon":              {"@alice", false, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u, err := ParseHistoricalUserID(tc.in)
			if !tc.valid {
				if !errors.Is(err, ErrInvalidUserID) {
					t.Fatalf("ParseHistoricalUserID(%q) = %+v, %v; want ErrInvalidUserID", tc.in, u, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHistoricalUserID(%q): %v", tc.in, err)
			}
			if u.Localpart != tc.local || u.String() != tc.in {
				t.Errorf("got %+v (%q), want localpart %q and %q", u, u.String(), tc.local, tc.in)
			}
		})
	}
}

func FuzzParseUserID(f *testing.F) {
	for _, s := range []string{
		"@alice:example.org", "@alice:example.org:8448", "@a:1.2.3.4", "@a:1.2.3.4:80",
		"@a:[::1]", "@a:[1234:5678::abcd]:5678", "@a:[::ffff:1.2.3.4]:1", "@Alice:x", "@:x",
		"@a:::1", "@a:[::1", "@a:x:0", "@a:x:65536", "@a:1.2.3.256", "@a:x..y", "@a\x00:x", "",
		"@", "@:", "@a:[", "@a:]", "@a:[]:", "@é:x", "@a:x.org:80:90",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUserID(s)
		h, herr := ParseHistoricalUserID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidUserID) {
				t.Fatalf("ParseUserID(%q): error %v does not match ErrInvalidUserID", s, err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("ParseUserID(%q): %d-byte error message", s, len(err.Error()))
			}
		} else {
			if u.String() != s {
				t.Fatalf("ParseUserID(%q).String() = %q", s, u.String())
			}
			// The current grammar is a subset of the historical one.
			if herr != nil || h != u {
				t.Fatalf("ParseHistoricalUserID(%q) = %+v, %v; ParseUserID accepted it as %+v", s, h, herr, u)
			}
			if again, err := ParseUserID(u.String()); err != nil || again != u {
				t.Fatalf("reparsing %q: %+v, %v", s, again, err)
			}
			if _, err := spec.NewUserID(s, strings.Contains(u.Localpart, "+")); err != nil {
				t.Fatalf("ParseUserID accepts %q, gomatrixserverlib does not: %v", s, err)
			}
			if len(s) > MaxUserIDLength || strings.Count(u.Localpart, ":") > 0 {
				t.Fatalf("ParseUserID(%q) accepted %+v", s, u)
			}
		}
		if herr == nil {
			if h.String() != s {
				t.Fatalf("ParseHistoricalUserID(%q).String() = %q", s, h.String())
			}
			if !utf8.ValidString(h.Localpart) || strings.ContainsAny(h.Localpart, ":\x00") {
				t.Fatalf("ParseHistoricalUserID(%q) accepted localpart %q", s, h.Localpart)
			}
		}
	})
}

func ExampleParseUserID() {
	for _, s := range []string{
		"@alice:example.org",
		"@bob:[2001:db8::1]:8448",
		"@carol:2001:db8::1",
		"@Dave:example.org",
	} {
		u, err := ParseUserID(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("localpart %q on server %q\n", u.Localpart, u.Server)
	}
	// Output:
	// localpart "alice" on server "example.org"
	// localpart "bob" on server "[2001:db8::1]:8448"
	// ids: invalid user ID "@carol:2001:db8::1": "2001:db8::1" looks like an IPv6 address without brackets; write it as in @user:[2001:db8::1]:8448
	// ids: invalid user ID "@Dave:example.org": upper-case 'D' in localpart: user IDs are lower-case
}
