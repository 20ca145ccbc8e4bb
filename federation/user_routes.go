package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/embedmatrix/homeserver/ids"
)

// MaxUsersPerKeyQuery bounds the users of one /user/keys/query or
// /user/keys/claim: each may cost a call of ServerConfig.UserExists.
const MaxUsersPerKeyQuery = 1000

// The end-to-end encryption endpoints peers call for our users even in
// rooms without encryption (on an invite, or when opening a DM). This
// server keeps no devices or keys, so each answers with the spec's shape
// and nothing in it, and peers neither log errors nor retry.

// localUser checks that userID is a user of this server the host says
// exists. A user of another server is refused with 400, as Synapse does
// ("User is not hosted on this homeserver"); an unknown local user, or a
// user ID that does not parse, is 404 M_NOT_FOUND.
func (s *Server) localUser(ctx context.Context, userID string) error {
	u, err := ids.ParseHistoricalUserID(userID)
	if err != nil {
		return errorf(http.StatusNotFound, CodeNotFound, "no such user")
	}
	if u.Server != string(s.cfg.Identity.ServerName) {
		return errorf(http.StatusBadRequest, CodeInvalidParam, "user %s is not hosted on this server", userID)
	}
	if s.cfg.UserExists == nil {
		return nil
	}
	ok, err := s.cfg.UserExists(ctx, u.Localpart)
	if err != nil {
		return fmt.Errorf("federation: does %s exist: %w", userID, err)
	}
	if !ok {
		return errorf(http.StatusNotFound, CodeNotFound, "no such user")
	}
	return nil
}

// userDevices serves GET /_matrix/federation/v1/user/devices/{userId}:
// no devices, at stream position 0.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1userdevicesuserid
func (s *Server) userDevices(ctx context.Context, req *request) (any, error) {
	userID := req.vars["userID"]
	if err := s.localUser(ctx, userID); err != nil {
		return nil, err
	}
	return map[string]any{"user_id": userID, "stream_id": 0, "devices": []any{}}, nil
}

// keysQuery serves POST /_matrix/federation/v1/user/keys/query: an empty
// device map for each asked user of ours that exists, and no cross-signing
// keys. Unknown local users are left out; when none of the asked users
// exists the answer is 404 M_NOT_FOUND rather than an empty 200. Users of
// another server are refused with 400, as Synapse does.
// https://spec.matrix.org/v1.16/server-server-api/#post_matrixfederationv1userkeysquery
func (s *Server) keysQuery(ctx context.Context, req *request) (any, error) {
	var body struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := decode(req.content, &body); err != nil {
		return nil, err
	}
	if len(body.DeviceKeys) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeMissingParam, "device_keys names no user")
	}
	if len(body.DeviceKeys) > MaxUsersPerKeyQuery {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "at most %d users per query", MaxUsersPerKeyQuery)
	}
	devices := map[string]map[string]any{}
	for userID := range body.DeviceKeys {
		err := s.localUser(ctx, userID)
		var me *Error
		switch {
		case err == nil:
			devices[userID] = map[string]any{}
		case errors.As(err, &me) && me.Status == http.StatusNotFound:
			// left out
		default:
			return nil, err
		}
	}
	if len(devices) == 0 {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "none of the users exists")
	}
	return map[string]any{
		"device_keys":       devices,
		"master_keys":       map[string]any{},
		"self_signing_keys": map[string]any{},
	}, nil
}

// keysClaim serves POST /_matrix/federation/v1/user/keys/claim: there are
// no one-time keys to claim. Users of another server are refused with
// 400, as Synapse does.
// https://spec.matrix.org/v1.16/server-server-api/#post_matrixfederationv1userkeysclaim
func (s *Server) keysClaim(_ context.Context, req *request) (any, error) {
	var body struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := decode(req.content, &body); err != nil {
		return nil, err
	}
	if len(body.OneTimeKeys) > MaxUsersPerKeyQuery {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "at most %d users per claim", MaxUsersPerKeyQuery)
	}
	for userID := range body.OneTimeKeys {
		u, err := ids.ParseHistoricalUserID(userID)
		if err != nil || u.Server != string(s.cfg.Identity.ServerName) {
			return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "user %q is not hosted on this server", userID)
		}
	}
	return map[string]any{"one_time_keys": map[string]any{}}, nil
}
