package federation_test

// The event signing vectors of the spec's appendices (content hash,
// redaction, signature), checked against gomatrixserverlib; the vectors'
// loader and the canonical JSON and JSON signing vectors are in
// spec_vectors_test.go.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// fixedKeyVerifier is a gomatrixserverlib.JSONVerifier that knows exactly one
// server key: the spec's test key.
type fixedKeyVerifier struct {
	server spec.ServerName
	keyID  gomatrixserverlib.KeyID
	pub    ed25519.PublicKey
}

func (f fixedKeyVerifier) VerifyJSONs(_ context.Context, reqs []gomatrixserverlib.VerifyJSONRequest) ([]gomatrixserverlib.VerifyJSONResult, error) {
	results := make([]gomatrixserverlib.VerifyJSONResult, len(reqs))
	for i, r := range reqs {
		if r.ServerName != f.server {
			results[i].Error = fmt.Errorf("no key known for %q", r.ServerName)
			continue
		}
		results[i].Error = gomatrixserverlib.VerifyJSON(string(r.ServerName), f.keyID, f.pub, r.Message)
	}
	return results, nil
}

func userIDForSender(_ spec.RoomID, senderID spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(senderID), true)
}

// contentHash is the spec's "content hash" (server-server API, "Calculating
// the content hash for an event"): SHA-256 of the canonical JSON of the event
// without unsigned, signatures and hashes, in unpadded base64.
func contentHash(t *testing.T, event []byte) string {
	t.Helper()
	m := decodeObject(t, "event", event)
	delete(m, "unsigned")
	delete(m, "signatures")
	delete(m, "hashes")
	sum := sha256.Sum256(encodeObject(t, "hashable event", m))
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

func TestSpecVectorsEventSigning(t *testing.T) {
	v := loadSpecVectors(t)
	priv, pub := signingKey(t, v.SigningKey)
	server, keyID := v.SigningKey.ServerName, gomatrixserverlib.KeyID(v.SigningKey.KeyID)
	verifier := fixedKeyVerifier{server: spec.ServerName(server), keyID: keyID, pub: pub}
	ctx := context.Background()
	contentTampered := 0
	for _, c := range v.EventSigning {
		t.Run(c.Name, func(t *testing.T) {
			verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(c.RoomVersion))
			if err != nil {
				t.Fatalf("room version %q: %v", c.RoomVersion, err)
			}
			want := decodeObject(t, "expected signed event", mustCanonical(t, "expected signed event", c.Signed))
			var wantHashes struct {
				SHA256 string `json:"sha256"`
			}
			if err := json.Unmarshal(want["hashes"], &wantHashes); err != nil || wantHashes.SHA256 == "" {
				t.Fatalf("expected signed event has no hashes.sha256: %s (%v)", want["hashes"], err)
			}

			// Hash and sign as server-server API "Signing Events" describes:
			// add the content hash, redact, sign, copy the signatures back.
			event := decodeObject(t, "input event", c.Input)
			hash := contentHash(t, c.Input)
			t.Run("content hash", func(t *testing.T) {
				if hash != wantHashes.SHA256 {
					t.Errorf("content hash\n got %s\nwant %s (spec)", hash, wantHashes.SHA256)
				}
			})
			hashes, err := json.Marshal(map[string]string{"sha256": hash})
			if err != nil {
				t.Fatal(err)
			}
			event["hashes"] = hashes
			redacted, err := verImpl.RedactEventJSON(encodeObject(t, "hashed event", event))
			if err != nil {
				t.Fatalf("RedactEventJSON: %v", err)
			}
			signedRedacted, err := gomatrixserverlib.SignJSON(server, keyID, priv, redacted)
			if err != nil {
				t.Fatalf("SignJSON: %v", err)
			}
			event["signatures"] = decodeObject(t, "signed redacted event", signedRedacted)["signatures"]

			t.Run("signatures", func(t *testing.T) {
				got := mustCanonical(t, "signatures", event["signatures"])
				wantSigs := mustCanonical(t, "expected signatures", want["signatures"])
				if !bytes.Equal(got, wantSigs) {
					t.Errorf("signatures\n got %s\nwant %s (spec)", got, wantSigs)
				}
			})
			t.Run("signed event", func(t *testing.T) {
				got := encodeObject(t, "signed event", event)
				wantEvent := encodeObject(t, "expected signed event", want)
				if !bytes.Equal(got, wantEvent) {
					t.Errorf("signed event\n got %s\nwant %s (spec)", got, wantEvent)
				}
			})

			// gomatrixserverlib's own event path must accept the spec's
			// signed event: content hash intact, signatures valid.
			t.Run("accepted as an event", func(t *testing.T) {
				pdu, err := verImpl.NewEventFromUntrustedJSON(c.Signed)
				if err != nil {
					t.Fatalf("NewEventFromUntrustedJSON: %v", err)
				}
				if pdu.Redacted() {
					t.Errorf("event was redacted: its content hash did not check out")
				}
				wantContent := mustCanonical(t, "expected content", want["content"])
				if gotContent := mustCanonical(t, "content", pdu.Content()); !bytes.Equal(gotContent, wantContent) {
					t.Errorf("content\n got %s\nwant %s", gotContent, wantContent)
				}
				if err := gomatrixserverlib.VerifyEventSignatures(ctx, pdu, verifier, userIDForSender); err != nil {
					t.Errorf("VerifyEventSignatures: %v", err)
				}
			})

			t.Run("one byte of a signed field changed", func(t *testing.T) {
				m := decodeObject(t, "expected signed event", encodeObject(t, "expected signed event", want))
				value, ok := changeOneByte(m["origin_server_ts"])
				if !ok {
					t.Fatalf("cannot change origin_server_ts %s", m["origin_server_ts"])
				}
				m["origin_server_ts"] = value
				tampered := encodeObject(t, "tampered event", m)
				if !differsInOneByte(encodeObject(t, "expected signed event", want), tampered) {
					t.Fatalf("tampering changed more than one byte")
				}
				pdu, err := verImpl.NewEventFromUntrustedJSON(tampered)
				if err != nil {
					t.Fatalf("NewEventFromUntrustedJSON: %v", err)
				}
				if err := gomatrixserverlib.VerifyEventSignatures(ctx, pdu, verifier, userIDForSender); err == nil {
					t.Errorf("VerifyEventSignatures accepted %s", tampered)
				}
			})

			content := decodeObject(t, "content", want["content"])
			keys := contentKeys(content)
			if len(keys) == 0 {
				return // empty content: nothing to change in place
			}
			contentTampered++
			// The content is covered by the content hash but not by the
			// signature: a changed body fails the hash check, and the
			// receiver must then use the redacted copy, whose signature is
			// still valid.
			t.Run("one byte of the content changed", func(t *testing.T) {
				value, ok := changeOneByte(content[keys[0]])
				if !ok {
					t.Fatalf("no letter or digit to change in %q: %s", keys[0], content[keys[0]])
				}
				content[keys[0]] = value
				m := decodeObject(t, "expected signed event", encodeObject(t, "expected signed event", want))
				m["content"] = encodeObject(t, "tampered content", content)
				tampered := encodeObject(t, "tampered event", m)
				if !differsInOneByte(encodeObject(t, "expected signed event", want), tampered) {
					t.Fatalf("tampering changed more than one byte")
				}
				if got := contentHash(t, tampered); got == wantHashes.SHA256 {
					t.Fatalf("content hash unchanged by tampering")
				}
				pdu, err := verImpl.NewEventFromUntrustedJSON(tampered)
				if err != nil {
					t.Fatalf("NewEventFromUntrustedJSON: %v", err)
				}
				if !pdu.Redacted() {
					t.Errorf("event with a bad content hash was not redacted")
				}
				if got := mustCanonical(t, "content", pdu.Content()); bytes.Equal(got, m["content"]) {
					t.Errorf("tampered content %s survived", got)
				}
				if err := gomatrixserverlib.VerifyEventSignatures(ctx, pdu, verifier, userIDForSender); err != nil {
					t.Errorf("VerifyEventSignatures rejected the redacted copy: %v", err)
				}
			})
		})
	}
	if contentTampered == 0 {
		t.Errorf("no event_signing vector had content to tamper with")
	}
}
