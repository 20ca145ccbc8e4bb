package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
)

// queryDirectory serves GET /_matrix/federation/v1/query/directory: the
// room one of our aliases names and the servers to join it through.
// An alias that is not ours gets 400 M_UNKNOWN, as Synapse answers (the
// spec only says the alias is to be one of the server's); one with a bad
// grammar 400 M_INVALID_PARAM; an unknown one 404 M_NOT_FOUND.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1querydirectory
func (s *Server) queryDirectory(ctx context.Context, req *request) (any, error) {
	q := req.http.URL.Query()
	if !q.Has("room_alias") {
		return nil, errorf(http.StatusBadRequest, CodeMissingParam, "room_alias is required")
	}
	alias, err := ids.ParseAlias(q.Get("room_alias"))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "%v", err)
	}
	if alias.Server != string(s.cfg.Identity.ServerName) {
		return nil, errorf(http.StatusBadRequest, CodeUnknown, "room alias %s is not hosted on this server", alias)
	}
	if s.cfg.ResolveAlias == nil {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "room alias %s not found", alias)
	}
	roomID, servers, err := s.cfg.ResolveAlias(ctx, alias.String())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "room alias %s not found", alias)
	} else if err != nil {
		return nil, err
	}
	if servers == nil {
		servers = []string{}
	}
	return map[string]any{"room_id": roomID, "servers": servers}, nil
}

// publicRoomsGet serves GET /_matrix/federation/v1/publicRooms.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1publicrooms
func (s *Server) publicRoomsGet(ctx context.Context, req *request) (any, error) {
	q := req.http.URL.Query()
	pr := PublicRoomsRequest{Since: q.Get("since")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "limit must be a non-negative integer")
		}
		pr.Limit = n
	}
	return s.publicRooms(ctx, string(req.origin), pr)
}

// publicRoomsBody is the JSON of POST /publicRooms.
type publicRoomsBody struct {
	Limit  *int   `json:"limit"`
	Since  string `json:"since"`
	Filter *struct {
		GenericSearchTerm string `json:"generic_search_term"`
	} `json:"filter"`
}

// publicRoomsPost serves POST /_matrix/federation/v1/publicRooms, which
// adds a search filter.
// https://spec.matrix.org/v1.16/server-server-api/#post_matrixfederationv1publicrooms
func (s *Server) publicRoomsPost(ctx context.Context, req *request) (any, error) {
	var body publicRoomsBody
	if err := decode(req.content, &body); err != nil {
		return nil, err
	}
	pr := PublicRoomsRequest{Since: body.Since}
	if body.Limit != nil {
		if *body.Limit < 0 {
			return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "limit must be a non-negative integer")
		}
		pr.Limit = *body.Limit
	}
	if body.Filter != nil {
		pr.Search = body.Filter.GenericSearchTerm
	}
	return s.publicRooms(ctx, string(req.origin), pr)
}

// publicRooms answers both forms; a since token we never issued gets 400
// M_INVALID_PARAM (Synapse fails to decode it and answers 500).
func (s *Server) publicRooms(ctx context.Context, origin string, pr PublicRoomsRequest) (any, error) {
	res, err := s.PublicRoomsPage(ctx, origin, pr)
	if errors.Is(err, ErrInvalidSince) {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "%v", err)
	}
	return res, err
}

// PublicRoomsPage returns one page of this server's public room
// directory as origin may see it ("" for this server itself), with the
// same tokens the publicRooms routes issue. A since token this server
// never issued is an error matching ErrInvalidSince.
func (s *Server) PublicRoomsPage(ctx context.Context, origin string, req PublicRoomsRequest) (PublicRoomsResponse, error) {
	var entries []PublicRoom
	if s.cfg.PublicRooms != nil {
		var err error
		if entries, err = s.cfg.PublicRooms(ctx, origin); err != nil {
			return PublicRoomsResponse{}, err
		}
	}
	return s.pager.page(entries, req)
}

// newPager derives the directory's token key from the signing key, so
// tokens stay valid across restarts and differ between servers.
func newPager(id *Identity) pager {
	h := sha256.New()
	h.Write([]byte("embedmatrix publicRooms since tokens\x00"))
	if id != nil && len(id.PrivateKey) == ed25519.PrivateKeySize {
		h.Write(id.PrivateKey.Seed())
	}
	return pager{secret: h.Sum(nil)}
}
