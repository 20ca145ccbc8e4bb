package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestQueryProfileRoute(t *testing.T) {
	profiles := map[string]Profile{
		"@alice:us":  {DisplayName: "Alice", AvatarURL: "mxc://us/a"},
		"@nobody:us": {},
	}
	s := &Server{cfg: ServerConfig{
		Identity: &Identity{ServerName: spec.ServerName("us")},
		QueryProfile: func(_ context.Context, userID string) (Profile, error) {
			if userID == "@broken:us" {
				return Profile{}, errors.New("disk on fire")
			}
			p, ok := profiles[userID]
			if !ok {
				return Profile{}, fmt.Errorf("%s: %w", userID, ErrUnknownUser)
			}
			return p, nil
		},
	}}
	tests := map[string]struct {
		query    url.Values
		want     Profile
		status   int
		errcode  string
		internal bool // an error that is not a Matrix error (answered 500)
	}{
		"both fields":           {query: url.Values{"user_id": {"@alice:us"}}, want: Profile{DisplayName: "Alice", AvatarURL: "mxc://us/a"}},
		"displayname only":      {query: url.Values{"user_id": {"@alice:us"}, "field": {"displayname"}}, want: Profile{DisplayName: "Alice"}},
		"avatar_url only":       {query: url.Values{"user_id": {"@alice:us"}, "field": {"avatar_url"}}, want: Profile{AvatarURL: "mxc://us/a"}},
		"m.tz is never held":    {query: url.Values{"user_id": {"@alice:us"}, "field": {"m.tz"}}, want: Profile{}},
		"user with no profile":  {query: url.Values{"user_id": {"@nobody:us"}}, want: Profile{}},
		"unknown field":         {query: url.Values{"user_id": {"@alice:us"}, "field": {"email"}}, status: 400, errcode: CodeInvalidParam},
		"another server's user": {query: url.Values{"user_id": {"@alice:them"}}, status: 400, errcode: CodeInvalidParam},
		"unknown local user":    {query: url.Values{"user_id": {"@carol:us"}}, status: 404, errcode: CodeNotFound},
		"no user_id":            {query: url.Values{}, status: 400, errcode: CodeMissingParam},
		"bad user_id":           {query: url.Values{"user_id": {"alice"}}, status: 400, errcode: CodeInvalidParam},
		"store failure":         {query: url.Values{"user_id": {"@broken:us"}}, internal: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			hr := httptest.NewRequest(http.MethodGet, "/_matrix/federation/v1/query/profile?"+tc.query.Encode(), nil)
			got, err := s.queryProfile(t.Context(), &request{origin: "them", http: hr})
			var me *Error
			switch {
			case tc.internal:
				if err == nil || errors.As(err, &me) {
					t.Fatalf("got %v, %v; want an internal error", got, err)
				}
			case tc.status != 0:
				if !errors.As(err, &me) || me.Status != tc.status || me.ErrCode != tc.errcode {
					t.Fatalf("got %v, %v; want %d %s", got, err, tc.status, tc.errcode)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("got %#v, %v; want %#v", got, err, tc.want)
				}
			}
		})
	}
}

func TestQueryProfileWithoutCallback(t *testing.T) {
	s := &Server{cfg: ServerConfig{Identity: &Identity{ServerName: "us"}}}
	hr := httptest.NewRequest(http.MethodGet, "/_matrix/federation/v1/query/profile?user_id=%40alice%3Aus", nil)
	_, err := s.queryProfile(t.Context(), &request{origin: "them", http: hr})
	var me *Error
	if !errors.As(err, &me) || me.Status != http.StatusNotFound || me.ErrCode != CodeNotFound {
		t.Fatalf("got %v, want 404 M_NOT_FOUND", err)
	}
}
