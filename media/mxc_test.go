package media_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/media"
)

func TestParseMXC(t *testing.T) {
	tests := map[string]struct {
		uri        string
		server, id string
		wantErr    bool
	}{
		"plain":               {uri: "mxc://example.org/abcDEF123_-", server: "example.org", id: "abcDEF123_-"},
		"port":                {uri: "mxc://example.org:8448/x", server: "example.org:8448", id: "x"},
		"ipv4":                {uri: "mxc://1.2.3.4/x", server: "1.2.3.4", id: "x"},
		"ipv6 with port":      {uri: "mxc://[::1]:8448/x", server: "[::1]:8448", id: "x"},
		"longest id":          {uri: "mxc://a.b/" + strings.Repeat("a", 255), server: "a.b", id: strings.Repeat("a", 255)},
		"id too long":         {uri: "mxc://a.b/" + strings.Repeat("a", 256), wantErr: true},
		"no scheme":           {uri: "https://example.org/x", wantErr: true},
		"upper-case scheme":   {uri: "MXC://example.org/x", wantErr: true},
		"no id":               {uri: "mxc://example.org", wantErr: true},
		"empty id":            {uri: "mxc://example.org/", wantErr: true},
		"path traversal":      {uri: "mxc://example.org/../../etc/passwd", wantErr: true},
		"dot dot id":          {uri: "mxc://example.org/..", wantErr: true},
		"slash in id":         {uri: "mxc://example.org/a/b", wantErr: true},
		"encoded slash":       {uri: "mxc://example.org/a%2Fb", wantErr: true},
		"query":               {uri: "mxc://example.org/a?b=c", wantErr: true},
		"nul in id":           {uri: "mxc://example.org/a\x00", wantErr: true},
		"empty server":        {uri: "mxc:///abc", wantErr: true},
		"bad server chars":    {uri: "mxc://exa_mple!.org/abc", wantErr: true},
		"server with space":   {uri: "mxc://exa mple.org/abc", wantErr: true},
		"port out of range":   {uri: "mxc://example.org:99999/abc", wantErr: true},
		"unbracketed ipv6":    {uri: "mxc://::1/abc", wantErr: true},
		"server dot dot":      {uri: "mxc://../abc", wantErr: true},
		"backslash in server": {uri: "mxc://a\\b/abc", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			server, id, err := media.ParseMXC(tc.uri)
			if tc.wantErr {
				if !errors.Is(err, media.ErrInvalidMXC) {
					t.Fatalf("ParseMXC(%q) = %q, %q, %v; want ErrInvalidMXC", tc.uri, server, id, err)
				}
				return
			}
			if err != nil || server != tc.server || id != tc.id {
				t.Fatalf("ParseMXC(%q) = %q, %q, %v; want %q, %q", tc.uri, server, id, err, tc.server, tc.id)
			}
			if got := media.MXC(server, id); got != tc.uri {
				t.Fatalf("MXC round trip = %q, want %q", got, tc.uri)
			}
		})
	}
}

func TestNewMediaID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := media.NewMediaID()
		if !media.ValidMediaID(id) || len(id) != 32 {
			t.Fatalf("NewMediaID() = %q: not a valid 32-character media ID", id)
		}
		if seen[id] {
			t.Fatalf("NewMediaID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestCheckKey(t *testing.T) {
	tests := map[string]struct {
		server, id string
		ok         bool
	}{
		"valid":          {"example.org", "abc", true},
		"traversal id":   {"example.org", "../x", false},
		"traversal srv":  {"..", "abc", false},
		"slash in srv":   {"a/b", "abc", false},
		"empty":          {"", "", false},
		"dotted id":      {"example.org", "a.b", false},
		"ipv6 with port": {"[::1]:80", "abc", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := media.CheckKey(tc.server, tc.id)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckKey(%q, %q) = %v, want ok=%v", tc.server, tc.id, err, tc.ok)
			}
			if err != nil && !errors.Is(err, media.ErrInvalidMXC) {
				t.Fatalf("CheckKey error %v does not match ErrInvalidMXC", err)
			}
		})
	}
}

func FuzzParseMXC(f *testing.F) {
	for _, s := range []string{"mxc://example.org/abc", "mxc://[::1]:8448/x_y-z", "mxc://../..", "mxc://a/b/c", "mxc://", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		server, id, err := media.ParseMXC(uri)
		if err != nil {
			if !errors.Is(err, media.ErrInvalidMXC) {
				t.Fatalf("error %v does not match ErrInvalidMXC", err)
			}
			return
		}
		if !media.ValidMediaID(id) || strings.ContainsAny(server, "/\\") || media.CheckKey(server, id) != nil {
			t.Fatalf("ParseMXC(%q) accepted %q, %q", uri, server, id)
		}
		if media.MXC(server, id) != uri {
			t.Fatalf("MXC(%q, %q) != %q", server, id, uri)
		}
	})
}
