package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Client makes signed requests to other servers. It wraps
// gomatrixserverlib's fclient (which signs with X-Matrix) over our
// Transport, and adds the calls whose fclient form does not fit us.
type Client struct {
	id *Identity
	fc fclient.FederationClient
}

// NewClient returns a Client signing as id over transport.
func NewClient(id *Identity, transport *Transport, timeout time.Duration) *Client {
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	fc := fclient.NewFederationClient(
		[]*fclient.SigningIdentity{{ServerName: id.ServerName, KeyID: id.KeyID, PrivateKey: id.PrivateKey}},
		fclient.WithTransport(transport), fclient.WithTimeout(timeout),
		fclient.WithUserAgent("embedmatrix-homeserver"),
	)
	return &Client{id: id, fc: fc}
}

// Federation returns the underlying fclient for calls not wrapped here.
func (c *Client) Federation() fclient.FederationClient { return c.fc }

// GetServerKeys fetches a server's self-signed keys (implements KeyClient).
func (c *Client) GetServerKeys(ctx context.Context, server spec.ServerName) (gomatrixserverlib.ServerKeys, error) {
	keys, err := c.fc.GetServerKeys(ctx, server)
	return keys, remoteError(server, err)
}

// Do sends a signed request to dest and decodes a 2xx JSON answer into out.
// A non-2xx answer is a gomatrix.HTTPError carrying the Matrix error.
func (c *Client) Do(ctx context.Context, method string, dest spec.ServerName, path string, body, out any) error {
	req := fclient.NewFederationRequest(method, c.id.ServerName, dest, path)
	if body != nil {
		if err := req.SetContent(body); err != nil {
			return fmt.Errorf("federation: encode request: %w", err)
		}
	}
	if err := req.Sign(c.id.ServerName, c.id.KeyID, c.id.PrivateKey); err != nil {
		return fmt.Errorf("federation: sign request: %w", err)
	}
	hreq, err := req.HTTPRequest()
	if err != nil {
		return fmt.Errorf("federation: build request: %w", err)
	}
	if out == nil {
		out = &json.RawMessage{}
	}
	return remoteError(dest, c.fc.DoRequestAndParseResponse(ctx, hreq, out))
}

// MakeJoin asks dest for a join template, offering only the room versions
// this server supports.
func (c *Client) MakeJoin(ctx context.Context, dest spec.ServerName, roomID, userID string) (fclient.RespMakeJoin, error) {
	q := make([]string, 0, len(rooms.SupportedVersions))
	for _, v := range rooms.SupportedVersions {
		q = append(q, "ver="+url.QueryEscape(string(v)))
	}
	path := "/_matrix/federation/v1/make_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID) + "?" + strings.Join(q, "&")
	var res fclient.RespMakeJoin
	err := c.Do(ctx, "GET", dest, path, nil, &res)
	return res, err
}

// SendJoin sends our signed join through dest (v2).
func (c *Client) SendJoin(ctx context.Context, dest spec.ServerName, ev gomatrixserverlib.PDU) (fclient.RespSendJoin, error) {
	res, err := c.fc.SendJoin(ctx, c.id.ServerName, dest, ev)
	return res, remoteError(dest, err)
}

// MakeLeave asks dest for a leave template for userID, to reject an
// invite into a room this server is not in.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_leaveroomiduserid
func (c *Client) MakeLeave(ctx context.Context, dest spec.ServerName, roomID, userID string) (fclient.RespMakeLeave, error) {
	path := "/_matrix/federation/v1/make_leave/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID)
	var res fclient.RespMakeLeave
	err := c.Do(ctx, "GET", dest, path, nil, &res)
	return res, err
}

// SendLeave sends our signed leave through dest (v2 send_leave).
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv2send_leaveroomideventid
func (c *Client) SendLeave(ctx context.Context, dest spec.ServerName, ev gomatrixserverlib.PDU) error {
	path := "/_matrix/federation/v2/send_leave/" + url.PathEscape(ev.RoomID().String()) + "/" + url.PathEscape(ev.EventID())
	return c.Do(ctx, "PUT", dest, path, json.RawMessage(ev.JSON()), nil)
}

// MakeKnock asks dest for a knock template for userID, offering the room
// versions this server supports.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_knockroomiduserid
func (c *Client) MakeKnock(ctx context.Context, dest spec.ServerName, roomID, userID string) (fclient.RespMakeKnock, error) {
	q := make([]string, 0, len(rooms.SupportedVersions))
	for _, v := range rooms.SupportedVersions {
		q = append(q, "ver="+url.QueryEscape(string(v)))
	}
	path := "/_matrix/federation/v1/make_knock/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID) + "?" + strings.Join(q, "&")
	var res fclient.RespMakeKnock
	err := c.Do(ctx, "GET", dest, path, nil, &res)
	return res, err
}

// SendKnock sends our signed knock through dest and returns the
// knock_room_state it answers (stripped state events, raw).
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1send_knockroomideventid
func (c *Client) SendKnock(ctx context.Context, dest spec.ServerName, ev gomatrixserverlib.PDU) ([]json.RawMessage, error) {
	path := "/_matrix/federation/v1/send_knock/" + url.PathEscape(ev.RoomID().String()) + "/" + url.PathEscape(ev.EventID())
	var res struct {
		KnockRoomState []json.RawMessage `json:"knock_room_state"`
	}
	err := c.Do(ctx, "PUT", dest, path, json.RawMessage(ev.JSON()), &res)
	return res.KnockRoomState, err
}

// SendInvite asks the invitee's server to co-sign an invite (v2). state is
// the invite_room_state: stripped state events (and the full create event).
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv2inviteroomideventid
func (c *Client) SendInvite(ctx context.Context, dest spec.ServerName, ev gomatrixserverlib.PDU, state []json.RawMessage) (fclient.RespInviteV2, error) {
	if state == nil {
		state = []json.RawMessage{}
	}
	body := map[string]any{
		"room_version":      ev.Version(),
		"event":             json.RawMessage(ev.JSON()),
		"invite_room_state": state,
	}
	var res fclient.RespInviteV2
	err := c.Do(ctx, "PUT", dest, "/_matrix/federation/v2/invite/"+url.PathEscape(ev.RoomID().String())+"/"+url.PathEscape(ev.EventID()), body, &res)
	return res, err
}

// txnBody is the JSON of PUT /send/{txnId}.
type txnBody struct {
	Origin         spec.ServerName   `json:"origin"`
	OriginServerTS spec.Timestamp    `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []json.RawMessage `json:"edus,omitempty"`
}

// SendTransaction pushes PDUs and EDUs (raw JSON) to dest.
func (c *Client) SendTransaction(ctx context.Context, dest spec.ServerName, txnID string, pdus, edus [][]byte) (fclient.RespSend, error) {
	body := txnBody{Origin: c.id.ServerName, OriginServerTS: spec.AsTimestamp(time.Now()), PDUs: []json.RawMessage{}}
	for _, p := range pdus {
		body.PDUs = append(body.PDUs, p)
	}
	for _, e := range edus {
		body.EDUs = append(body.EDUs, e)
	}
	var res fclient.RespSend
	err := c.Do(ctx, "PUT", dest, "/_matrix/federation/v1/send/"+url.PathEscape(txnID), body, &res)
	return res, err
}

// MissingEvents asks dest for the events between earliest and latest
// (implements rooms.Remote).
func (c *Client) MissingEvents(ctx context.Context, dest spec.ServerName, roomID string, earliest, latest []string, limit int, minDepth int64) ([]json.RawMessage, error) {
	body := map[string]any{"earliest_events": nonNil(earliest), "latest_events": nonNil(latest), "limit": limit, "min_depth": minDepth}
	var res struct {
		Events []json.RawMessage `json:"events"`
	}
	err := c.Do(ctx, "POST", dest, "/_matrix/federation/v1/get_missing_events/"+url.PathEscape(roomID), body, &res)
	return res.Events, err
}

// StateIDs asks dest for the state before an event, as IDs (implements
// rooms.Remote).
func (c *Client) StateIDs(ctx context.Context, dest spec.ServerName, roomID, eventID string) ([]string, []string, error) {
	var res struct {
		PDUIDs       []string `json:"pdu_ids"`
		AuthChainIDs []string `json:"auth_chain_ids"`
	}
	err := c.Do(ctx, "GET", dest, "/_matrix/federation/v1/state_ids/"+url.PathEscape(roomID)+"?event_id="+url.QueryEscape(eventID), nil, &res)
	return res.PDUIDs, res.AuthChainIDs, err
}

// Event fetches one event from dest (implements rooms.Remote).
func (c *Client) Event(ctx context.Context, dest spec.ServerName, eventID string) (json.RawMessage, error) {
	var res remoteTxn
	if err := c.Do(ctx, "GET", dest, "/_matrix/federation/v1/event/"+url.PathEscape(eventID), nil, &res); err != nil {
		return nil, err
	}
	if len(res.PDUs) != 1 {
		return nil, fmt.Errorf("federation: /event from %s returned %d events", dest, len(res.PDUs))
	}
	return res.PDUs[0], nil
}

// Backfill asks dest for history before the given events.
func (c *Client) Backfill(ctx context.Context, dest spec.ServerName, roomID string, from []string, limit int) ([]json.RawMessage, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	for _, f := range from {
		q.Add("v", f)
	}
	var res remoteTxn
	err := c.Do(ctx, "GET", dest, "/_matrix/federation/v1/backfill/"+url.PathEscape(roomID)+"?"+q.Encode(), nil, &res)
	return res.PDUs, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var _ rooms.Remote = (*Client)(nil)

// QueryDirectory asks server which room one of its aliases names, and the
// servers to join it through.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1querydirectory
func (c *Client) QueryDirectory(ctx context.Context, server spec.ServerName, alias string) (roomID string, servers []string, err error) {
	var res struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	path := "/_matrix/federation/v1/query/directory?room_alias=" + url.QueryEscape(alias)
	if err := c.Do(ctx, "GET", server, path, nil, &res); err != nil {
		return "", nil, err
	}
	if res.RoomID == "" {
		return "", nil, fmt.Errorf("federation: %s answered /query/directory for %s without a room_id", server, alias)
	}
	return res.RoomID, res.Servers, nil
}

// PublicRooms asks server for a page of its public room directory: a GET,
// or a POST when there is a search term (as Synapse asks).
// https://spec.matrix.org/v1.16/server-server-api/#public-room-directory
func (c *Client) PublicRooms(ctx context.Context, server spec.ServerName, req PublicRoomsRequest) (PublicRoomsResponse, error) {
	var res PublicRoomsResponse
	const path = "/_matrix/federation/v1/publicRooms"
	var err error
	if req.Search == "" {
		q := url.Values{}
		if req.Limit > 0 {
			q.Set("limit", fmt.Sprint(req.Limit))
		}
		if req.Since != "" {
			q.Set("since", req.Since)
		}
		p := path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		err = c.Do(ctx, "GET", server, p, nil, &res)
	} else {
		body := map[string]any{"filter": map[string]string{"generic_search_term": req.Search}}
		if req.Limit > 0 {
			body["limit"] = req.Limit
		}
		if req.Since != "" {
			body["since"] = req.Since
		}
		err = c.Do(ctx, "POST", server, path, body, &res)
	}
	if err != nil {
		return PublicRoomsResponse{}, err
	}
	if res.Chunk == nil {
		res.Chunk = []PublicRoom{}
	}
	return res, nil
}
