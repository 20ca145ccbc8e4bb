package rooms

import (
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestServerACL(t *testing.T) {
	no := false
	cases := map[string]struct {
		acl    ServerACL
		server spec.ServerName
		want   bool
	}{
		"allow all":                     {ServerACL{Allow: []string{"*"}}, "evil.example", true},
		"empty allow denies":            {ServerACL{}, "good.example", false},
		"deny beats allow":              {ServerACL{Allow: []string{"*"}, Deny: []string{"evil.example"}}, "evil.example", false},
		"deny glob":                     {ServerACL{Allow: []string{"*"}, Deny: []string{"*.evil.example"}}, "a.evil.example", false},
		"port is ignored":               {ServerACL{Allow: []string{"good.example"}}, "good.example:8448", true},
		"question mark":                 {ServerACL{Allow: []string{"hs?.example"}}, "hs1.example", true},
		"question mark is one char":     {ServerACL{Allow: []string{"hs?.example"}}, "hs12.example", false},
		"case-insensitive":              {ServerACL{Allow: []string{"GOOD.example"}}, "good.EXAMPLE", true},
		"ip literal allowed by default": {ServerACL{Allow: []string{"*"}}, "127.0.0.1:8448", true},
		"ip literal denied":             {ServerACL{Allow: []string{"*"}, AllowIPLiterals: &no}, "127.0.0.1", false},
		"ipv6 literal denied":           {ServerACL{Allow: []string{"*"}, AllowIPLiterals: &no}, "[::1]:8448", false},
		"invalid server name":           {ServerACL{Allow: []string{"*"}}, "bad name", false},
		"many stars":                    {ServerACL{Allow: []string{"*a*a*a*a*a*b"}}, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := c.acl.Allows(c.server); got != c.want {
				t.Fatalf("Allows(%s) = %v, want %v", c.server, got, c.want)
			}
		})
	}
}
