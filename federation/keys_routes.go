package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

func (s *Server) wellKnown(w http.ResponseWriter, _ *http.Request) {
	name := s.cfg.WellKnownServer
	if name == "" {
		name = string(s.cfg.Identity.ServerName)
	}
	writeJSON(w, http.StatusOK, map[string]string{"m.server": name})
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	v := s.cfg.SoftwareVersion
	if v == "" {
		v = "dev"
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": map[string]string{"name": "embedmatrix-homeserver", "version": v}})
}

// serverKeys serves GET /_matrix/key/v2/server: our self-signed keys.
func (s *Server) serverKeys(w http.ResponseWriter, _ *http.Request) {
	body, err := s.cfg.Identity.ServerKeys(time.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// notaryGet serves GET /_matrix/key/v2/query/{serverName}.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixkeyv2queryservername
func (s *Server) notaryGet(w http.ResponseWriter, r *http.Request) {
	server := spec.ServerName(mux.Vars(r)["serverName"])
	var minValid int64
	if v := r.URL.Query().Get("minimum_valid_until_ts"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, CodeInvalidParam, "minimum_valid_until_ts is not an integer"))
			return
		}
		minValid = n
	}
	s.answerNotary(w, r.Context(), map[spec.ServerName]int64{server: minValid})
}

// notaryPost serves POST /_matrix/key/v2/query.
func (s *Server) notaryPost(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	var q struct {
		ServerKeys map[spec.ServerName]map[string]struct {
			MinimumValidUntilTS int64 `json:"minimum_valid_until_ts"`
		} `json:"server_keys"`
	}
	if err := decode(body, &q); err != nil {
		writeError(w, err)
		return
	}
	if len(q.ServerKeys) > 100 {
		writeError(w, errorf(http.StatusBadRequest, CodeInvalidParam, "too many servers in one query"))
		return
	}
	want := map[spec.ServerName]int64{}
	for server, keys := range q.ServerKeys {
		want[server] = 0
		for _, c := range keys {
			want[server] = max(want[server], c.MinimumValidUntilTS)
		}
	}
	s.answerNotary(w, r.Context(), want)
}

// answerNotary returns, for each server, the self-signed key responses we
// hold (fetching fresh ones when none is valid long enough), each with our
// own signature added.
func (s *Server) answerNotary(w http.ResponseWriter, ctx context.Context, want map[spec.ServerName]int64) {
	out := []json.RawMessage{}
	for server, minValid := range want {
		if _, _, ok := spec.ParseAndValidateServerName(server); !ok {
			continue
		}
		if server == s.cfg.Identity.ServerName {
			own, err := s.cfg.Identity.ServerKeys(time.Now())
			if err == nil {
				out = append(out, own)
			}
			continue
		}
		responses, err := s.notaryResponses(ctx, server, minValid)
		if err != nil {
			s.log.Info("notary: no keys", "server", server, "err", err)
			continue
		}
		for _, raw := range responses {
			signed, err := s.cfg.Identity.Sign(raw)
			if err == nil {
				out = append(out, signed)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"server_keys": out})
}

func (s *Server) notaryResponses(ctx context.Context, server spec.ServerName, minValid int64) ([][]byte, error) {
	fresh := func() ([][]byte, int64, error) {
		keys, err := s.cfg.Store.RemoteKeys(ctx, string(server))
		if err != nil {
			return nil, 0, err
		}
		seen := map[string]bool{}
		var out [][]byte
		var best int64
		for _, k := range keys {
			if k.ExpiredTS != 0 || len(k.Response) == 0 || seen[string(k.Response)] {
				continue
			}
			seen[string(k.Response)] = true
			out = append(out, k.Response)
			best = max(best, k.ValidUntilTS)
		}
		return out, best, nil
	}
	out, best, err := fresh()
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	if len(out) == 0 || best < max(minValid, now) {
		if ferr := s.cfg.KeyRing.fetch(ctx, server); ferr == nil {
			out, _, err = fresh()
		}
	}
	return out, err
}
