package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// MakeKnock answers a remote server's make_knock: a knock template for
// userID, checked against the current state, so a user the auth rules
// refuse (the join rule is not knock, the user is banned, joined or
// invited) learns it now (ErrNotAllowed). A room whose version is not
// among supported fails with ErrIncompatibleVersion and that version.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_knockroomiduserid
func (e *Engine) MakeKnock(ctx context.Context, roomID, userID string, supported []string) (gomatrixserverlib.ProtoEvent, string, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return gomatrixserverlib.ProtoEvent{}, "", err
	}
	version := string(v.Version())
	if !slices.Contains(supported, version) {
		return gomatrixserverlib.ProtoEvent{}, version, fmt.Errorf("%w: room is version %s", ErrIncompatibleVersion, version)
	}
	proto, err := e.makeMembership(ctx, roomID, userID, spec.Knock)
	return proto, version, err
}

// SendKnock accepts a remote user's signed knock (send_knock), with the
// checks SendJoin makes: a knock whose state_key is its sender, from a
// user of the origin server, for this room and the path's event ID
// (ErrBadEvent otherwise), allowed by the auth rules (ErrNotAllowed). It
// is stored and sent to the room's other servers. It returns the
// knock_room_state: stripped state events for the knocker to show the
// room by, the create event in full first.
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1send_knockroomideventid
func (e *Engine) SendKnock(ctx context.Context, origin spec.ServerName, roomID, eventID string, raw json.RawMessage) ([]json.RawMessage, error) {
	ev, _, _, err := e.sendMembership(ctx, origin, roomID, eventID, raw, spec.Knock)
	if err != nil {
		return nil, err
	}
	state, err := e.InviteState(ctx, roomID, string(ev.SenderID()))
	if err != nil {
		return nil, err
	}
	if state == nil {
		state = []json.RawMessage{}
	}
	return state, nil
}
