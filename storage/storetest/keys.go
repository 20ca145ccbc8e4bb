package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func eqSigningKey(t *testing.T, what string, got, want storage.SigningKey) {
	t.Helper()
	if got.KeyID != want.KeyID || !bytes.Equal(got.Seed, want.Seed) ||
		got.CreatedTS != want.CreatedTS || got.ExpiredTS != want.ExpiredTS {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

func eqSigningKeys(t *testing.T, what string, got, want []storage.SigningKey) {
	t.Helper()
	ids := func(ks []storage.SigningKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.KeyID)
		}
		return out
	}
	eqStrings(t, what+" key IDs", ids(got), ids(want))
	for i := range want {
		eqSigningKey(t, what, got[i], want[i])
	}
}

func testSigningKeys(t *testing.T, open opener) {
	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		keys, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		if len(keys) != 0 {
			t.Fatalf("SigningKeys of an empty store: got %d keys, want 0", len(keys))
		}
	})

	t.Run("OrderCurrentFirstThenNewest", func(t *testing.T) {
		s := open(t)
		a := storage.SigningKey{KeyID: "ed25519:a", Seed: seed(1), CreatedTS: 100}
		b := storage.SigningKey{KeyID: "ed25519:b", Seed: seed(2), CreatedTS: 200}
		c := storage.SigningKey{KeyID: "ed25519:c", Seed: seed(3), CreatedTS: 300}
		// Added in an order that is neither the expected one nor its reverse.
		for _, k := range []storage.SigningKey{b, a, c} {
			mustOK(t, "AddSigningKey "+k.KeyID, s.AddSigningKey(ctx(t), k))
		}
		mustOK(t, "ExpireSigningKey a", s.ExpireSigningKey(ctx(t), "ed25519:a", 250))
		mustOK(t, "ExpireSigningKey c", s.ExpireSigningKey(ctx(t), "ed25519:c", 400))
		a.ExpiredTS, c.ExpiredTS = 250, 400
		// b is the current key although c was created later: current first,
		// then the old keys newest first.
		keys, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		eqSigningKeys(t, "SigningKeys", keys, []storage.SigningKey{b, c, a})
	})

	t.Run("NewestOldKeysFirst", func(t *testing.T) {
		s := open(t)
		k1 := storage.SigningKey{KeyID: "ed25519:1", Seed: seed(1), CreatedTS: 100}
		k2 := storage.SigningKey{KeyID: "ed25519:2", Seed: seed(2), CreatedTS: 200}
		k3 := storage.SigningKey{KeyID: "ed25519:3", Seed: seed(3), CreatedTS: 300}
		for _, k := range []storage.SigningKey{k2, k1, k3} {
			mustOK(t, "AddSigningKey "+k.KeyID, s.AddSigningKey(ctx(t), k))
		}
		mustOK(t, "ExpireSigningKey 1", s.ExpireSigningKey(ctx(t), k1.KeyID, 200))
		mustOK(t, "ExpireSigningKey 2", s.ExpireSigningKey(ctx(t), k2.KeyID, 300))
		k1.ExpiredTS, k2.ExpiredTS = 200, 300
		keys, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		eqSigningKeys(t, "SigningKeys", keys, []storage.SigningKey{k3, k2, k1})
	})

	t.Run("DuplicateKeyID", func(t *testing.T) {
		s := open(t)
		k := storage.SigningKey{KeyID: "ed25519:dup", Seed: seed(1), CreatedTS: 100}
		mustOK(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
		dup := storage.SigningKey{KeyID: "ed25519:dup", Seed: seed(2), CreatedTS: 200}
		if err := s.AddSigningKey(ctx(t), dup); err == nil {
			t.Fatal("AddSigningKey with an existing key ID: got no error")
		}
		keys, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		eqSigningKeys(t, "SigningKeys after duplicate", keys, []storage.SigningKey{k})
	})

	t.Run("Expire", func(t *testing.T) {
		s := open(t)
		k := storage.SigningKey{KeyID: "ed25519:x", Seed: seed(9), CreatedTS: 100}
		mustOK(t, "AddSigningKey", s.AddSigningKey(ctx(t), k))
		mustOK(t, "ExpireSigningKey", s.ExpireSigningKey(ctx(t), k.KeyID, 12345))
		keys, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		k.ExpiredTS = 12345
		eqSigningKeys(t, "SigningKeys", keys, []storage.SigningKey{k})
		mustNotFound(t, "ExpireSigningKey of a missing key",
			s.ExpireSigningKey(ctx(t), "ed25519:missing", 1))
	})

	t.Run("CallerOwnsBytes", func(t *testing.T) {
		s := open(t)
		in := seed(7)
		mustOK(t, "AddSigningKey", s.AddSigningKey(ctx(t),
			storage.SigningKey{KeyID: "ed25519:k", Seed: in, CreatedTS: 1}))
		in[0] = 0xff // the store must have copied the seed
		keys, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		if len(keys) != 1 || !bytes.Equal(keys[0].Seed, seed(7)) {
			t.Fatalf("seed changed with the caller's slice: %x", keys)
		}
		keys[0].Seed[1] = 0xff // nor may it share what it returns
		again, err := s.SigningKeys(ctx(t))
		mustOK(t, "SigningKeys", err)
		if !bytes.Equal(again[0].Seed, seed(7)) {
			t.Fatalf("seed changed with a returned slice: %x", again[0].Seed)
		}
	})
}

func testRemoteKeys(t *testing.T, open opener) {
	key := func(server, id string, validUntil int64, resp string) storage.RemoteKey {
		return storage.RemoteKey{
			ServerName: server, KeyID: id, PublicKey: []byte("pub-" + server + id + resp),
			ValidUntilTS: validUntil, Response: []byte(resp),
		}
	}
	eq := func(t *testing.T, what string, got, want []storage.RemoteKey) {
		t.Helper()
		slices.SortFunc(got, func(a, b storage.RemoteKey) int {
			if a.KeyID < b.KeyID {
				return -1
			}
			if a.KeyID > b.KeyID {
				return 1
			}
			return 0
		})
		if len(got) != len(want) {
			t.Fatalf("%s: got %d keys %+v, want %d", what, len(got), got, len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.ServerName != w.ServerName || g.KeyID != w.KeyID || !bytes.Equal(g.PublicKey, w.PublicKey) ||
				g.ValidUntilTS != w.ValidUntilTS || g.ExpiredTS != w.ExpiredTS || !bytes.Equal(g.Response, w.Response) {
				t.Fatalf("%s: key %d: got %+v, want %+v", what, i, g, w)
			}
		}
	}

	t.Run("UnknownServer", func(t *testing.T) {
		s := open(t)
		keys, err := s.RemoteKeys(ctx(t), "nobody.example")
		mustOK(t, "RemoteKeys", err)
		if len(keys) != 0 {
			t.Fatalf("RemoteKeys of an unknown server: got %d keys", len(keys))
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		a1 := key("a.example", "ed25519:1", 1000, `{"server_name":"a.example","n":1}`)
		a2 := key("a.example", "ed25519:2", 2000, `{"server_name":"a.example","n":2}`)
		a2.ExpiredTS = 1500
		b1 := key("b.example", "ed25519:1", 3000, `{"server_name":"b.example"}`)
		mustOK(t, "StoreRemoteKeys", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{a1, b1, a2}))
		got, err := s.RemoteKeys(ctx(t), "a.example")
		mustOK(t, "RemoteKeys a", err)
		eq(t, "RemoteKeys a", got, []storage.RemoteKey{a1, a2})
		got, err = s.RemoteKeys(ctx(t), "b.example")
		mustOK(t, "RemoteKeys b", err)
		eq(t, "RemoteKeys b", got, []storage.RemoteKey{b1})
	})

	t.Run("UpsertKeepsLaterValidUntil", func(t *testing.T) {
		s := open(t)
		first := key("a.example", "ed25519:1", 1000, `{"v":1000}`)
		mustOK(t, "StoreRemoteKeys first", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{first}))

		later := key("a.example", "ed25519:1", 2000, `{"v":2000}`)
		mustOK(t, "StoreRemoteKeys later", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{later}))
		got, err := s.RemoteKeys(ctx(t), "a.example")
		mustOK(t, "RemoteKeys", err)
		eq(t, "after a later key", got, []storage.RemoteKey{later})

		earlier := key("a.example", "ed25519:1", 1500, `{"v":1500}`)
		mustOK(t, "StoreRemoteKeys earlier", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{earlier}))
		got, err = s.RemoteKeys(ctx(t), "a.example")
		mustOK(t, "RemoteKeys", err)
		eq(t, "after an earlier key", got, []storage.RemoteKey{later})

		// The same key ID on another server is another key.
		other := key("b.example", "ed25519:1", 10, `{"v":10}`)
		mustOK(t, "StoreRemoteKeys other", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{other}))
		got, err = s.RemoteKeys(ctx(t), "b.example")
		mustOK(t, "RemoteKeys b", err)
		eq(t, "other server", got, []storage.RemoteKey{other})
		got, err = s.RemoteKeys(ctx(t), "a.example")
		mustOK(t, "RemoteKeys a", err)
		eq(t, "first server untouched", got, []storage.RemoteKey{later})
	})

	t.Run("CallerOwnsBytes", func(t *testing.T) {
		s := open(t)
		k := key("a.example", "ed25519:1", 1000, `{"x":1}`)
		mustOK(t, "StoreRemoteKeys", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{k}))
		want := key("a.example", "ed25519:1", 1000, `{"x":1}`)
		k.Response[0], k.PublicKey[0] = '!', '!'
		got, err := s.RemoteKeys(ctx(t), "a.example")
		mustOK(t, "RemoteKeys", err)
		eq(t, "after changing the caller's slices", got, []storage.RemoteKey{want})
		got[0].Response[0] = '!'
		got, err = s.RemoteKeys(ctx(t), "a.example")
		mustOK(t, "RemoteKeys", err)
		eq(t, "after changing a returned slice", got, []storage.RemoteKey{want})
	})
}
