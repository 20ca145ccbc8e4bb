package ephemeral

import (
	"context"
	"errors"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// view is a RoomView over fixed memberships and a set of denied servers.
type view struct {
	members map[string]string // "room|user" -> membership
	denied  map[spec.ServerName]bool
	err     error
}

func (v view) Membership(_ context.Context, roomID, userID string) (string, error) {
	return v.members[roomID+"|"+userID], v.err
}

func (v view) CheckServerACL(_ context.Context, _ string, server spec.ServerName) error {
	if v.denied[server] {
		return errors.New("denied by ACL")
	}
	return nil
}

func TestAdmit(t *testing.T) {
	v := view{
		members: map[string]string{
			"!r:a|@bob:b.example":      "join",
			"!r:a|@gone:b.example":     "leave",
			"!r:a|@invited:b.example":  "invite",
			"!r:a|@banned:b.example":   "ban",
			"!r:a|@eve:evil.example":   "join",
			"!r:a|@p:[::1]:8448":       "join",
			"!r:a|@carol:c.example":    "join",
			"!other:a|@bob:b.example":  "leave",
			"!r:a|@bob:b.example:8448": "join",
		},
		denied: map[spec.ServerName]bool{"evil.example": true},
	}
	cases := map[string]struct {
		origin spec.ServerName
		room   string
		user   string
		want   error
	}{
		"joined user of the origin":       {origin: "b.example", room: "!r:a", user: "@bob:b.example"},
		"IPv6 literal with port":          {origin: "[::1]:8448", room: "!r:a", user: "@p:[::1]:8448"},
		"user of another server":          {origin: "b.example", room: "!r:a", user: "@carol:c.example", want: ErrWrongOrigin},
		"same host, other port":           {origin: "b.example", room: "!r:a", user: "@bob:b.example:8448", want: ErrWrongOrigin},
		"not a user ID":                   {origin: "b.example", room: "!r:a", user: "bob", want: ErrWrongOrigin},
		"left":                            {origin: "b.example", room: "!r:a", user: "@gone:b.example", want: ErrNotJoined},
		"only invited":                    {origin: "b.example", room: "!r:a", user: "@invited:b.example", want: ErrNotJoined},
		"banned":                          {origin: "b.example", room: "!r:a", user: "@banned:b.example", want: ErrNotJoined},
		"never in the room":               {origin: "b.example", room: "!r:a", user: "@stranger:b.example", want: ErrNotJoined},
		"joined elsewhere, left here":     {origin: "b.example", room: "!other:a", user: "@bob:b.example", want: ErrNotJoined},
		"unknown room":                    {origin: "b.example", room: "!unknown:a", user: "@bob:b.example", want: ErrNotJoined},
		"joined but the ACL denies":       {origin: "evil.example", room: "!r:a", user: "@eve:evil.example", want: ErrServerDenied},
		"denied server speaking for bob":  {origin: "evil.example", room: "!r:a", user: "@bob:b.example", want: ErrWrongOrigin},
		"empty origin":                    {origin: "", room: "!r:a", user: "@bob:b.example", want: ErrWrongOrigin},
		"origin differs only in the case": {origin: "B.example", room: "!r:a", user: "@bob:b.example", want: ErrWrongOrigin},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := Admit(context.Background(), v, c.origin, c.room, c.user)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Admit: %v, want %v", err, c.want)
			}
		})
	}
	t.Run("membership lookup fails", func(t *testing.T) {
		broken := v
		broken.err = errors.New("disk on fire")
		err := Admit(context.Background(), broken, "b.example", "!r:a", "@bob:b.example")
		if err == nil || !errors.Is(err, broken.err) {
			t.Fatalf("Admit: %v, want the lookup error", err)
		}
	})
}
