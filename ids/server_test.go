package ids

import (
	"errors"
	"testing"
)

func TestServerOf(t *testing.T) {
	tests := map[string]struct {
		in     string
		server string
		ok     bool
	}{
		"dns":                {"@a:example.org", "example.org", true},
		"port":               {"@a:example.org:8448", "example.org:8448", true},
		"ipv6 with port":     {"@a:[::1]:8448", "[::1]:8448", true},
		"ipv4 with port":     {"@a:1.2.3.4:80", "1.2.3.4:80", true},
		"historical local":   {"@Alice B:example.org", "example.org", true},
		"no colon":           {"@alice", "", false},
		"not a user":         {"!room:example.org", "", false},
		"empty":              {"", "", false},
		"colon in localpart": {"@a:b:example.org", "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ServerOf(tc.in)
			if !tc.ok {
				if !errors.Is(err, ErrInvalidUserID) {
					t.Fatalf("ServerOf(%q) = %q, %v; want ErrInvalidUserID", tc.in, got, err)
				}
				return
			}
			if err != nil || string(got) != tc.server {
				t.Fatalf("ServerOf(%q) = %q, %v; want %q", tc.in, got, err, tc.server)
			}
		})
	}
}

func TestCheckServerName(t *testing.T) {
	tests := map[string]bool{
		"example.org": true, "example.org:8448": true, "[::1]:8448": true, "1.2.3.4": true,
		"": false, "2001:db8::1": false, "example.org:0": false, "ex_ample.org": false, "a..b": false,
	}
	for in, ok := range tests {
		t.Run(in, func(t *testing.T) {
			err := CheckServerName(in)
			if ok != (err == nil) {
				t.Fatalf("CheckServerName(%q) = %v, want ok=%v", in, err, ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidServerName) {
				t.Errorf("error %v does not match ErrInvalidServerName", err)
			}
		})
	}
}

func TestRoomEventAlias(t *testing.T) {
	tests := map[string]struct {
		check func(string) error
		in    string
		ok    bool
	}{
		"room v10":          {CheckRoomID, "!abc:example.org", true},
		"room v12":          {CheckRoomID, "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", true},
		"room with port":    {CheckRoomID, "!abc:example.org:8448", true},
		"room bad server":   {CheckRoomID, "!abc:exa mple.org", false},
		"room wrong sigil":  {CheckRoomID, "#abc:example.org", false},
		"room empty opaque": {CheckRoomID, "!:example.org", false},
		"event":             {CheckEventID, "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk", true},
		"event wrong sigil": {CheckEventID, "!acR1l0", false},
		"event too long":    {CheckEventID, "$" + string(make([]byte, 300)), false},
		"alias":             {func(s string) error { _, err := ParseAlias(s); return err }, "#general:example.org", true},
		"alias ipv6":        {func(s string) error { _, err := ParseAlias(s); return err }, "#general:[::1]:8448", true},
		"alias no server":   {func(s string) error { _, err := ParseAlias(s); return err }, "#general", false},
		"alias empty local": {func(s string) error { _, err := ParseAlias(s); return err }, "#:example.org", false},
		"alias room sigil":  {func(s string) error { _, err := ParseAlias(s); return err }, "!general:example.org", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.check(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("check(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidID) {
				t.Errorf("error %v does not match ErrInvalidID", err)
			}
		})
	}
	a, err := ParseAlias("#general:[::1]:8448")
	if err != nil || a.Localpart != "general" || a.Server != "[::1]:8448" || a.String() != "#general:[::1]:8448" {
		t.Errorf("ParseAlias = %+v, %v", a, err)
	}
}
