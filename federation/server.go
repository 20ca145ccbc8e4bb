package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// DefaultMaxBodyBytes bounds inbound request bodies: room for a full
// transaction of 50 PDUs of 64 KiB each plus EDUs.
const DefaultMaxBodyBytes = 8 << 20

// InboundStore is the part of storage.Store the inbound routes use.
type InboundStore interface {
	RemoteKeyStore
	PutInvite(ctx context.Context, inv storage.Invite) error
	InboundTransaction(ctx context.Context, origin, txnID string) ([]byte, error)
	SaveInboundTransaction(ctx context.Context, origin, txnID string, response []byte) error
}

// ServerConfig wires the inbound side.
type ServerConfig struct {
	Identity *Identity
	KeyRing  *KeyRing
	Rooms    *rooms.Engine
	Store    InboundStore
	Logger   *slog.Logger
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// WellKnownServer is served as m.server in /.well-known/matrix/server;
	// empty means the server name itself.
	WellKnownServer string
	// OnInvite is called after an inbound invite for a local user is
	// co-signed and stored.
	OnInvite func(storage.Invite)
	// OnOriginSeen is called for every authenticated request, so the send
	// queue can stop backing off a server that is evidently up.
	OnOriginSeen func(origin string)
	// OnUnknownRoomPDU is called for a PDU of a room this server is not
	// in (e.g. the revoke of a pending invite of one of our users).
	OnUnknownRoomPDU func(ctx context.Context, origin spec.ServerName, pdu json.RawMessage)
	// OnEDUs is called with the EDUs of an inbound transaction (after its
	// PDUs are processed), each as the raw JSON object {"edu_type",
	// "content"}. It must not block for long; it runs before /send answers.
	OnEDUs func(ctx context.Context, origin spec.ServerName, edus []json.RawMessage)
	// UserExists says whether a local user (by localpart) exists, for the
	// endpoints that answer about users (/user/devices, /user/keys/query).
	// Nil means every user ID of this server exists.
	UserExists func(ctx context.Context, localpart string) (bool, error)
	// SoftwareVersion is reported by /_matrix/federation/v1/version.
	SoftwareVersion string
	// QueryProfile answers /query/profile with the profile of one of our
	// users (a full user ID of this server); an error matching
	// ErrUnknownUser answers 404 M_NOT_FOUND. Nil answers 404 for everyone.
	QueryProfile func(ctx context.Context, userID string) (Profile, error)
	// ResolveAlias answers /query/directory for one of our aliases: the
	// room and the servers to join it through, ours first. An unknown
	// alias is an error matching storage.ErrNotFound. Nil: none is known.
	ResolveAlias func(ctx context.Context, alias string) (roomID string, servers []string, err error)
	// PublicRooms lists this server's public room directory as origin
	// may see it ("" for this server itself), in any order; the routes
	// filter, order and page it. Nil: the directory is empty.
	PublicRooms func(ctx context.Context, origin string) ([]PublicRoom, error)
	// Hierarchy answers /hierarchy for a room this server holds (the
	// route has checked that it exists and that its server ACL lets
	// origin in): the room and its children as origin may see them
	// (HierarchyVisible, SpaceChildren). A room origin may not see, or
	// that this server is no longer in, is an error matching
	// storage.ErrNotFound (404 M_NOT_FOUND). Nil: every room is unknown.
	Hierarchy func(ctx context.Context, origin, roomID string, suggestedOnly bool) (Hierarchy, error)
}

// Server serves the federation and key APIs.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	router *mux.Router
	// methods holds the handler of each method a path template takes.
	methods map[string]map[string]http.Handler
	pager   pager
}

// NewServer returns a Server.
func NewServer(cfg ServerConfig) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnInvite == nil {
		cfg.OnInvite = func(storage.Invite) {}
	}
	if cfg.OnOriginSeen == nil {
		cfg.OnOriginSeen = func(string) {}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pager: newPager(cfg.Identity)}
	s.router = s.routes()
	return s
}

// Mount adds the server's routes to a host's gorilla/mux router: the
// server-server and key API prefixes and the .well-known file, each
// handled by s.
func (s *Server) Mount(r *mux.Router) {
	r.PathPrefix("/_matrix/federation/").Handler(s)
	r.PathPrefix("/_matrix/key/").Handler(s)
	r.Path("/.well-known/matrix/server").Handler(s)
}

// ServeHTTP serves every route of the server-server and key APIs and the
// server's .well-known file. Panics in a handler are recovered into a 500.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in federation handler", "path", r.URL.Path, "panic", p)
			writeError(w, errorf(http.StatusInternalServerError, CodeUnknown, "internal error"))
		}
	}()
	s.router.ServeHTTP(w, r)
}

func (s *Server) routes() *mux.Router {
	r := mux.NewRouter().UseEncodedPath()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errorf(http.StatusNotFound, CodeUnrecognized, "unrecognized request"))
	})
	s.methods = map[string]map[string]http.Handler{}
	get := http.MethodGet
	put := http.MethodPut
	post := http.MethodPost
	s.handle(r, "/.well-known/matrix/server", get, http.HandlerFunc(s.wellKnown))
	s.handle(r, "/_matrix/key/v2/server", get, http.HandlerFunc(s.serverKeys))
	s.handle(r, "/_matrix/key/v2/server/{keyID}", get, http.HandlerFunc(s.serverKeys))
	s.handle(r, "/_matrix/key/v2/query/{serverName}", get, http.HandlerFunc(s.notaryGet))
	s.handle(r, "/_matrix/key/v2/query", post, http.HandlerFunc(s.notaryPost))

	const fed = "/_matrix/federation"
	s.handle(r, fed+"/v1/version", get, http.HandlerFunc(s.version))
	s.handle(r, fed+"/v1/send/{txnID}", put, s.authed(s.send))
	s.handle(r, fed+"/v2/invite/{roomID}/{eventID}", put, s.authed(s.invite))
	s.handle(r, fed+"/v1/make_join/{roomID}/{userID}", get, s.authed(s.makeJoin))
	s.handle(r, fed+"/v2/send_join/{roomID}/{eventID}", put, s.authed(s.sendJoin))
	s.handle(r, fed+"/v1/make_leave/{roomID}/{userID}", get, s.authed(s.makeLeave))
	s.handle(r, fed+"/v2/send_leave/{roomID}/{eventID}", put, s.authed(s.sendLeave))
	s.handle(r, fed+"/v1/make_knock/{roomID}/{userID}", get, s.authed(s.makeKnock))
	s.handle(r, fed+"/v1/send_knock/{roomID}/{eventID}", put, s.authed(s.sendKnock))
	s.handle(r, fed+"/v1/send_join/{roomID}/{eventID}", put, s.authed(v1Answer(s.sendJoin)))
	s.handle(r, fed+"/v1/send_leave/{roomID}/{eventID}", put, s.authed(v1Answer(s.sendLeave)))
	s.handle(r, fed+"/v1/event/{eventID}", get, s.authed(s.event))
	s.handle(r, fed+"/v1/state/{roomID}", get, s.authed(s.state))
	s.handle(r, fed+"/v1/state_ids/{roomID}", get, s.authed(s.stateIDs))
	s.handle(r, fed+"/v1/event_auth/{roomID}/{eventID}", get, s.authed(s.eventAuth))
	s.handle(r, fed+"/v1/backfill/{roomID}", get, s.authed(s.backfill))
	s.handle(r, fed+"/v1/get_missing_events/{roomID}", post, s.authed(s.missingEvents))
	s.handle(r, fed+"/v1/timestamp_to_event/{roomID}", get, s.authed(s.timestampToEvent))
	s.handle(r, fed+"/v1/user/devices/{userID}", get, s.authed(s.userDevices))
	s.handle(r, fed+"/v1/user/keys/query", post, s.authed(s.keysQuery))
	s.handle(r, fed+"/v1/user/keys/claim", post, s.authed(s.keysClaim))
	s.handle(r, fed+"/v1/query/profile", get, s.authed(s.queryProfile))
	s.handle(r, fed+"/v1/query/directory", get, s.authed(s.queryDirectory))
	s.handle(r, fed+"/v1/publicRooms", get, s.authed(s.publicRoomsGet))
	s.handle(r, fed+"/v1/publicRooms", post, s.authed(s.publicRoomsPost))
	s.handle(r, fed+"/v1/hierarchy/{roomID}", get, s.authed(s.hierarchy))
	return r
}

// handle serves path for one method (called once per method a path
// takes). Routes match on the path alone and the method is checked here,
// so that a path we serve asked with another method answers 405
// M_UNRECOGNIZED: gorilla/mux answers 404 when another route's path also
// matched or the route is under a subrouter.
// https://spec.matrix.org/v1.16/client-server-api/#common-error-codes
func (s *Server) handle(r *mux.Router, path, method string, h http.Handler) {
	byMethod, ok := s.methods[path]
	if !ok {
		byMethod = map[string]http.Handler{}
		s.methods[path] = byMethod
		r.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if h, ok := byMethod[req.Method]; ok {
				h.ServeHTTP(w, req)
				return
			}
			w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(byMethod)), ", "))
			writeError(w, errorf(http.StatusMethodNotAllowed, CodeUnrecognized, "%s is not served on this path", req.Method))
		}))
	}
	byMethod[method] = h
}

// request is an authenticated federation request.
type request struct {
	origin  spec.ServerName
	content []byte
	vars    map[string]string
	http    *http.Request
}

type handler func(ctx context.Context, req *request) (any, error)

// authed wraps a handler with the spec's request authentication: the body
// is size-limited, the X-Matrix header parsed, the destination must be us,
// and the origin's signature over {method, uri, origin, destination,
// content} must verify with the origin's key.
// https://spec.matrix.org/v1.16/server-server-api/#request-authentication
func (s *Server) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := s.authenticate(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		s.cfg.OnOriginSeen(string(req.origin))
		res, err := h(r.Context(), req)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				s.log.Warn("federation request failed", "path", r.URL.Path, "origin", req.origin, "err", err)
			}
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*request, error) {
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	var x XMatrix
	found := false
	for _, h := range r.Header.Values("Authorization") {
		if p, err := ParseXMatrix(h); err == nil {
			x, found = p, true
			break
		} else if !errors.Is(err, errNotXMatrix) {
			return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "%v", err)
		}
	}
	if !found {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "missing X-Matrix authorization")
	}
	if _, _, ok := spec.ParseAndValidateServerName(x.Origin); !ok {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid origin server name")
	}
	dest := x.Destination
	if dest == "" {
		dest = s.cfg.Identity.ServerName
	}
	if dest != s.cfg.Identity.ServerName {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "request is for %q, not this server", dest)
	}
	signed := map[string]any{
		"method":      r.Method,
		"uri":         r.RequestURI,
		"origin":      x.Origin,
		"destination": dest,
		"signatures":  map[string]map[string]string{string(x.Origin): {string(x.Key): x.Sig}},
	}
	if len(body) > 0 {
		if !json.Valid(body) {
			return nil, errorf(http.StatusBadRequest, CodeNotJSON, "body is not valid JSON")
		}
		signed["content"] = json.RawMessage(body)
	}
	msg, err := json.Marshal(signed)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "cannot encode request for verification")
	}
	res, err := s.cfg.KeyRing.VerifyJSONs(r.Context(), []gomatrixserverlib.VerifyJSONRequest{{
		ServerName: x.Origin, AtTS: spec.AsTimestamp(time.Now()), Message: msg,
	}})
	if err != nil {
		return nil, fmt.Errorf("federation: verify request: %w", err)
	}
	if res[0].Error != nil {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid signature: %v", res[0].Error)
	}
	vars := map[string]string{}
	for k, v := range mux.Vars(r) {
		u, err := url.PathUnescape(v)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "bad path parameter %s", k)
		}
		vars[k] = u
	}
	return &request{origin: x.Origin, content: body, vars: vars, http: r}, nil
}

// readBody reads at most limit bytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body over %d bytes", limit)
		}
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "cannot read body: %v", err)
	}
	return body, nil
}

// decode unmarshals a request body, answering M_BAD_JSON / M_NOT_JSON.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return errorf(http.StatusBadRequest, CodeNotJSON, "missing JSON body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, CodeBadJSON, "bad JSON: %v", err)
	}
	return nil
}

// roomError maps a rooms error to the Matrix error a peer should see.
func roomError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rooms.ErrUnknownRoom):
		return errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, rooms.ErrUnsupportedRoomVersion):
		return errorf(http.StatusBadRequest, CodeIncompatibleVer, "%v", err)
	case errors.Is(err, rooms.ErrIncompatibleVersion):
		return errorf(http.StatusBadRequest, CodeIncompatibleVer, "%v", err)
	case errors.Is(err, rooms.ErrBadEvent):
		return errorf(http.StatusBadRequest, CodeBadJSON, "%v", err)
	case errors.Is(err, rooms.ErrUnknownEvent):
		return errorf(http.StatusNotFound, CodeNotFound, "%v", err)
	case errors.Is(err, rooms.ErrNotInRoom):
		return errorf(http.StatusForbidden, CodeForbidden, "%v", err)
	case errors.Is(err, rooms.ErrServerDenied):
		return errorf(http.StatusForbidden, CodeForbidden, "%v", err)
	case errors.Is(err, rooms.ErrNotAllowed), errors.Is(err, rooms.ErrBadSignature), errors.Is(err, rooms.ErrMissingAuthEvents):
		return errorf(http.StatusForbidden, CodeForbidden, "%v", err)
	}
	return err
}
