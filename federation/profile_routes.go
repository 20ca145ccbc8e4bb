package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ErrUnknownUser is returned (wrapped) by ServerConfig.QueryProfile for a
// user of this server that does not exist; the peer gets 404 M_NOT_FOUND.
var ErrUnknownUser = errors.New("federation: no such user")

// Profile fields a /query/profile may ask for.
const (
	FieldDisplayName = "displayname"
	FieldAvatarURL   = "avatar_url"
	// FieldTimeZone is defined by the spec; this server holds none, so it
	// is always left out of the answer.
	FieldTimeZone = "m.tz"
)

// Profile is a user's public profile as /query/profile carries it. An
// empty field is one the user has not set (left out of the JSON).
type Profile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// queryProfile serves GET /_matrix/federation/v1/query/profile. The
// user_id must be one of ours: a user of another server is a bad
// parameter (400 M_INVALID_PARAM; the spec lists no error for it, Synapse
// answers 400 "User is not hosted on this homeserver"). A field other
// than the spec's is 400 M_INVALID_PARAM too, as Dendrite answers; a
// user the host does not know is 404 M_NOT_FOUND.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1queryprofile
func (s *Server) queryProfile(ctx context.Context, req *request) (any, error) {
	q := req.http.URL.Query()
	raw := q.Get("user_id")
	if raw == "" {
		return nil, errorf(http.StatusBadRequest, CodeMissingParam, "user_id is required")
	}
	uid, err := ids.ParseHistoricalUserID(raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "user_id: %v", err)
	}
	if spec.ServerName(uid.Server) != s.cfg.Identity.ServerName {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "user %s is not hosted on this server", uid)
	}
	field := q.Get("field")
	switch field {
	case "", FieldDisplayName, FieldAvatarURL, FieldTimeZone:
	default:
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam,
			"field must be %q or %q, or absent for the whole profile", FieldDisplayName, FieldAvatarURL)
	}
	if s.cfg.QueryProfile == nil {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "user does not exist")
	}
	p, err := s.cfg.QueryProfile(ctx, uid.String())
	if errors.Is(err, ErrUnknownUser) {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "user does not exist")
	}
	if err != nil {
		return nil, fmt.Errorf("federation: profile of %s: %w", uid, err)
	}
	switch field {
	case FieldDisplayName:
		p.AvatarURL = ""
	case FieldAvatarURL:
		p.DisplayName = ""
	case FieldTimeZone:
		p = Profile{}
	}
	return p, nil
}

// QueryProfile asks server for the profile of one of its users: field is
// FieldDisplayName or FieldAvatarURL for one field, "" for both. A field
// the answer leaves out, gives as null or as something other than a
// string comes back empty.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1queryprofile
func (c *Client) QueryProfile(ctx context.Context, server spec.ServerName, userID, field string) (Profile, error) {
	q := url.Values{"user_id": {userID}}
	if field != "" {
		q.Set("field", field)
	}
	var res map[string]json.RawMessage
	if err := c.Do(ctx, http.MethodGet, server, "/_matrix/federation/v1/query/profile?"+q.Encode(), nil, &res); err != nil {
		return Profile{}, err
	}
	var p Profile
	str := func(key string) string {
		var v string
		if json.Unmarshal(res[key], &v) != nil {
			return ""
		}
		return v
	}
	if field == "" || field == FieldDisplayName {
		p.DisplayName = str(FieldDisplayName)
	}
	if field == "" || field == FieldAvatarURL {
		p.AvatarURL = str(FieldAvatarURL)
	}
	return p, nil
}
