package federation

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
)

// servedRoutes lists every route the server serves: a path with its
// variables filled in, and the methods it takes.
func servedRoutes(s *Server) map[string][]string {
	vars := regexp.MustCompile(`\{[^}]*\}`)
	out := map[string][]string{}
	for tpl, methods := range s.methods {
		path := vars.ReplaceAllString(tpl, "x")
		for m := range methods {
			out[path] = append(out[path], m)
		}
	}
	return out
}

// https://spec.matrix.org/v1.16/client-server-api/#common-error-codes (M_UNRECOGNIZED: 405 or 404)
func TestWrongMethodAndUnknownPath(t *testing.T) {
	s := NewServer(ServerConfig{Identity: &Identity{ServerName: "hs.test"}})
	routes := servedRoutes(s)
	if len(routes) < 24 {
		t.Fatalf("only %d routes found: %v", len(routes), routes)
	}
	all := []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch}
	check := func(t *testing.T, method, path string, status int) {
		t.Helper()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		var body struct {
			ErrCode string `json:"errcode"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != status || body.ErrCode != CodeUnrecognized {
			t.Errorf("%s %s: %d %q, want %d M_UNRECOGNIZED", method, path, w.Code, w.Body.String(), status)
		}
	}
	for path, methods := range routes {
		t.Run(path, func(t *testing.T) {
			for _, m := range all {
				if !slices.Contains(methods, m) {
					check(t, m, path, http.StatusMethodNotAllowed)
				}
			}
		})
	}
	unknown := map[string]string{
		"unknown federation endpoint": "/_matrix/federation/v1/no_such_thing",
		"unknown version":             "/_matrix/federation/v9/send/x",
		"unknown key endpoint":        "/_matrix/key/v2/nope",
		"extra path segment":          "/_matrix/federation/v1/version/extra",
		"outside the APIs":            "/something/else",
	}
	for name, path := range unknown {
		t.Run(name, func(t *testing.T) {
			check(t, http.MethodGet, path, http.StatusNotFound)
			check(t, http.MethodPut, path, http.StatusNotFound)
		})
	}
}

func TestDropE2EEEDUs(t *testing.T) {
	s := NewServer(ServerConfig{Identity: &Identity{ServerName: "hs.test"}})
	in := []json.RawMessage{
		json.RawMessage(`{"edu_type":"m.direct_to_device","content":{}}`),
		json.RawMessage(`{"edu_type":"m.typing","content":{}}`),
		json.RawMessage(`{"edu_type":"m.device_list_update","content":{}}`),
		json.RawMessage(`{"edu_type":"m.signing_key_update","content":{}}`),
		json.RawMessage(`{"edu_type":"m.receipt","content":{}}`),
	}
	out := s.dropE2EEEDUs("peer.test", in)
	if len(out) != 2 || string(out[0]) != string(in[1]) || string(out[1]) != string(in[4]) {
		t.Fatalf("kept %s, want the typing and receipt EDUs", out)
	}
	if len(in) != 5 || string(in[0]) != `{"edu_type":"m.direct_to_device","content":{}}` {
		t.Fatal("the input was changed")
	}
}
