package homeserver

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage/sqlite"
	"github.com/matrix-org/gomatrixserverlib"
)

// getJSON fetches a path from a peer without authentication.
func getJSON(t *testing.T, p *peer, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+p.addr+path, stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = p.name
	resp, err := insecureClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type serverKeys struct {
	ServerName    string                          `json:"server_name"`
	ValidUntilTS  int64                           `json:"valid_until_ts"`
	VerifyKeys    map[string]struct{ Key string } `json:"verify_keys"`
	OldVerifyKeys map[string]struct {
		Key       string
		ExpiredTS int64 `json:"expired_ts"`
	} `json:"old_verify_keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// checkSelfSigned decodes a key response and checks each verify key signed it.
func checkSelfSigned(t *testing.T, raw []byte, server string) serverKeys {
	t.Helper()
	var k serverKeys
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatalf("bad key response %s: %v", raw, err)
	}
	if k.ServerName != server {
		t.Fatalf("server_name %q, want %q", k.ServerName, server)
	}
	if len(k.VerifyKeys) != 1 {
		t.Fatalf("want one verify key, got %v", k.VerifyKeys)
	}
	for id, vk := range k.VerifyKeys {
		pub, err := base64.RawStdEncoding.DecodeString(vk.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := gomatrixserverlib.VerifyJSON(server, gomatrixserverlib.KeyID(id), ed25519.PublicKey(pub), raw); err != nil {
			t.Fatalf("response not self-signed by %s: %v", id, err)
		}
	}
	return k
}

func TestKeyServer(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))

	code, raw := getJSON(t, a, "GET", "/_matrix/key/v2/server", "")
	if code != 200 {
		t.Fatalf("key server: %d %s", code, raw)
	}
	k := checkSelfSigned(t, raw, "hs-a.test")
	now := time.Now().UnixMilli()
	if k.ValidUntilTS <= now || k.ValidUntilTS > now+7*24*3600*1000 {
		t.Errorf("valid_until_ts %d not within the next 7 days", k.ValidUntilTS)
	}
	if k.OldVerifyKeys == nil {
		t.Error("old_verify_keys missing")
	}
	var firstKeyID string
	for id := range k.VerifyKeys {
		firstKeyID = id
	}

	t.Run("the key survives a restart", func(t *testing.T) {
		a.restart()
		_, raw := getJSON(t, a, "GET", "/_matrix/key/v2/server", "")
		k := checkSelfSigned(t, raw, "hs-a.test")
		if _, ok := k.VerifyKeys[firstKeyID]; !ok {
			t.Fatalf("key changed across restart: %v, had %s", k.VerifyKeys, firstKeyID)
		}
	})

	t.Run("notary GET and POST", func(t *testing.T) {
		for _, q := range []struct{ method, path, body string }{
			{"GET", "/_matrix/key/v2/query/hs-a.test", ""},
			{"POST", "/_matrix/key/v2/query", `{"server_keys":{"hs-a.test":{}}}`},
			{"POST", "/_matrix/key/v2/query", `{"server_keys":{"hs-a.test":{"` + firstKeyID + `":{"minimum_valid_until_ts":` + jsonInt(now+1000) + `}}}}`},
		} {
			code, raw := getJSON(t, b, q.method, q.path, q.body)
			if code != 200 {
				t.Fatalf("%s %s: %d %s", q.method, q.path, code, raw)
			}
			var res struct {
				ServerKeys []json.RawMessage `json:"server_keys"`
			}
			if err := json.Unmarshal(raw, &res); err != nil || len(res.ServerKeys) != 1 {
				t.Fatalf("%s %s: %s", q.method, q.path, raw)
			}
			k := checkSelfSigned(t, res.ServerKeys[0], "hs-a.test")
			if _, ok := k.Signatures["hs-b.test"]; !ok {
				t.Errorf("notary did not add its signature: %v", k.Signatures)
			}
		}
		cached, err := b.srv.store.RemoteKeys(context.Background(), "hs-a.test")
		if err != nil || len(cached) == 0 || len(cached[0].Response) == 0 {
			t.Fatalf("b did not cache a's keys with their response: %v %v", cached, err)
		}
	})

	t.Run("notary for an unreachable server answers an empty list", func(t *testing.T) {
		code, raw := getJSON(t, b, "GET", "/_matrix/key/v2/query/nowhere.test", "")
		if code != 200 || string(raw) != `{"server_keys":[]}` {
			t.Fatalf("%d %s", code, raw)
		}
	})

	t.Run("rotation publishes the old key", func(t *testing.T) {
		a.stop()
		st, err := sqlite.Open(context.Background(), a.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().UnixMilli()
		if err := RotateSigningKey(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		st.Close()
		a.start()
		_, raw := getJSON(t, a, "GET", "/_matrix/key/v2/server", "")
		k := checkSelfSigned(t, raw, "hs-a.test")
		if _, ok := k.VerifyKeys[firstKeyID]; ok {
			t.Fatal("the expired key is still a verify key")
		}
		old, ok := k.OldVerifyKeys[firstKeyID]
		if !ok || old.ExpiredTS < before || old.ExpiredTS > time.Now().UnixMilli() {
			t.Fatalf("old_verify_keys = %v, want %s expired just now", k.OldVerifyKeys, firstKeyID)
		}
	})

	t.Run("well-known and version", func(t *testing.T) {
		code, raw := getJSON(t, a, "GET", "/.well-known/matrix/server", "")
		if code != 200 || string(raw) != `{"m.server":"hs-a.test"}` {
			t.Fatalf("%d %s", code, raw)
		}
		code, raw = getJSON(t, a, "GET", "/_matrix/federation/v1/version", "")
		if code != 200 || !json.Valid(raw) {
			t.Fatalf("%d %s", code, raw)
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}
