package federation_test

// These tests pin the test vectors published in the Matrix specification
// (appendices: "Canonical JSON" examples and "Cryptographic Test Vectors")
// against gomatrixserverlib, which does our canonicalisation and signing.
// The vectors live in testdata/spec_vectors.json so that they can be checked
// against the spec text without reading Go; that file names the spec commit
// and sections they were copied from.

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
)

const specVectorsFile = "testdata/spec_vectors.json"

// The number of vectors the spec publishes in each section; a shrinking file
// must fail the tests rather than quietly test less.
const (
	specCanonicalJSONVectors = 10
	specJSONSigningVectors   = 2
	specEventSigningVectors  = 2
)

type specVectors struct {
	Description   string               `json:"description"`
	Source        map[string]string    `json:"source"`
	CanonicalJSON []canonicalJSONCase  `json:"canonical_json"`
	SigningKey    signingKeyVector     `json:"signing_key"`
	JSONSigning   []jsonSigningCase    `json:"json_signing"`
	EventSigning  []eventSigningCase   `json:"event_signing"`
	NumberRules   numberRulesSpecified `json:"number_rules"`
}

type canonicalJSONCase struct {
	Name      string `json:"name"`
	Input     string `json:"input"`
	Canonical string `json:"canonical"`
	// Set only where gomatrixserverlib.CanonicalJSON is known to differ from
	// the spec: what it produces instead.
	GomatrixserverlibCanonical *string `json:"gomatrixserverlib_canonical"`
	Note                       string  `json:"note"`
}

type signingKeyVector struct {
	Seed         string `json:"seed"`
	SeedEncoding string `json:"seed_encoding"`
	KeyID        string `json:"key_id"`
	ServerName   string `json:"server_name"`
}

type jsonSigningCase struct {
	Name   string          `json:"name"`
	Input  json.RawMessage `json:"input"`
	Signed json.RawMessage `json:"signed"`
}

type eventSigningCase struct {
	Name            string          `json:"name"`
	RoomVersion     string          `json:"room_version"`
	RoomVersionNote string          `json:"room_version_note"`
	Input           json.RawMessage `json:"input"`
	Signed          json.RawMessage `json:"signed"`
}

type numberRulesSpecified struct {
	Source                string       `json:"source"`
	StrictRoomVersion     string       `json:"strict_room_version"`
	StrictRoomVersionNote string       `json:"strict_room_version_note"`
	LenientRoomVersion    string       `json:"lenient_room_version"`
	Cases                 []numberCase `json:"cases"`
}

type numberCase struct {
	Name          string `json:"name"`
	Input         string `json:"input"`
	SpecValid     bool   `json:"spec_valid"`
	LenientOutput string `json:"lenient_output"`
	// Set only where gomatrixserverlib's strict check is known to differ
	// from the spec.
	GomatrixserverlibStrictAccepts *bool  `json:"gomatrixserverlib_strict_accepts"`
	Note                           string `json:"note"`
}

func loadSpecVectors(t *testing.T) specVectors {
	t.Helper()
	raw, err := os.ReadFile(specVectorsFile)
	if err != nil {
		t.Fatalf("reading %s: %v", specVectorsFile, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var v specVectors
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", specVectorsFile, err)
	}
	if len(v.CanonicalJSON) != specCanonicalJSONVectors {
		t.Fatalf("%s has %d canonical_json vectors, the spec publishes %d", specVectorsFile, len(v.CanonicalJSON), specCanonicalJSONVectors)
	}
	if len(v.JSONSigning) != specJSONSigningVectors {
		t.Fatalf("%s has %d json_signing vectors, the spec publishes %d", specVectorsFile, len(v.JSONSigning), specJSONSigningVectors)
	}
	if len(v.EventSigning) != specEventSigningVectors {
		t.Fatalf("%s has %d event_signing vectors, the spec publishes %d", specVectorsFile, len(v.EventSigning), specEventSigningVectors)
	}
	if len(v.NumberRules.Cases) == 0 {
		t.Fatalf("%s has no number_rules cases", specVectorsFile)
	}
	return v
}

// signingKey derives the spec's test signing key from its unpadded base64 seed.
func signingKey(t *testing.T, k signingKeyVector) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	seed, err := base64.RawStdEncoding.DecodeString(k.Seed)
	if err != nil {
		t.Fatalf("decoding seed %q: %v", k.Seed, err)
	}
	if len(seed) != ed25519.SeedSize {
		t.Fatalf("seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return priv, priv.Public().(ed25519.PublicKey)
}

func mustCanonical(t *testing.T, what string, in []byte) []byte {
	t.Helper()
	out, err := gomatrixserverlib.CanonicalJSON(in)
	if err != nil {
		t.Fatalf("CanonicalJSON(%s): %v", what, err)
	}
	return out
}

func decodeObject(t *testing.T, what string, in []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(in, &m); err != nil {
		t.Fatalf("decoding %s: %v", what, err)
	}
	if m == nil {
		t.Fatalf("%s is not a JSON object: %s", what, in)
	}
	return m
}

func encodeObject(t *testing.T, what string, m map[string]json.RawMessage) []byte {
	t.Helper()
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding %s: %v", what, err)
	}
	return mustCanonical(t, what, out)
}

func requireBadJSON(t *testing.T, what string, err error) {
	t.Helper()
	var bad gomatrixserverlib.BadJSONError
	if err == nil {
		t.Errorf("%s: accepted, want it refused", what)
	} else if !errors.As(err, &bad) {
		t.Errorf("%s: refused with %T (%v), want a gomatrixserverlib.BadJSONError", what, err, err)
	}
}

// changeOneByte changes the last ASCII letter or digit of b to a different
// one of the same class, keeping JSON strings and numbers well formed.
func changeOneByte(b []byte) ([]byte, bool) {
	out := append([]byte(nil), b...)
	for i := len(out) - 1; i >= 0; i-- {
		c := out[i]
		switch {
		case c >= '0' && c <= '8', c >= 'a' && c <= 'y', c >= 'A' && c <= 'Y':
			out[i] = c + 1
		case c == '9', c == 'z', c == 'Z':
			out[i] = c - 1
		default:
			continue
		}
		return out, true
	}
	return nil, false
}

// differsInOneByte reports whether a and b have the same length and differ
// in exactly one position.
func differsInOneByte(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n == 1
}

// contentKeys lists the top-level members covered by a JSON signature.
func contentKeys(m map[string]json.RawMessage) []string {
	var keys []string
	for k := range m {
		if k != "signatures" && k != "unsigned" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func TestSpecVectorsCanonicalJSON(t *testing.T) {
	v := loadSpecVectors(t)
	strict := gomatrixserverlib.RoomVersion(v.NumberRules.StrictRoomVersion)
	for _, c := range v.CanonicalJSON {
		t.Run(c.Name, func(t *testing.T) {
			got, err := gomatrixserverlib.CanonicalJSON([]byte(c.Input))
			if err != nil {
				t.Fatalf("CanonicalJSON(%q): %v", c.Input, err)
			}
			strictOut, strictErr := gomatrixserverlib.EnforcedCanonicalJSON([]byte(c.Input), strict)
			if c.GomatrixserverlibCanonical == nil {
				if string(got) != c.Canonical {
					t.Errorf("CanonicalJSON(%q)\n got %s\nwant %s (spec)", c.Input, got, c.Canonical)
				}
				if strictErr != nil {
					t.Errorf("EnforcedCanonicalJSON(%q, %q): %v", c.Input, strict, strictErr)
				} else if string(strictOut) != c.Canonical {
					t.Errorf("EnforcedCanonicalJSON(%q, %q)\n got %s\nwant %s (spec)", c.Input, strict, strictOut, c.Canonical)
				}
			} else {
				// A recorded divergence: pin it exactly, so that both a fix
				// and a further change are noticed.
				if string(got) == c.Canonical {
					t.Errorf("CanonicalJSON(%q) now matches the spec (%s): drop gomatrixserverlib_canonical from %s", c.Input, got, specVectorsFile)
				} else if string(got) != *c.GomatrixserverlibCanonical {
					t.Errorf("CanonicalJSON(%q)\n got %s\nwant %s (recorded divergence)\nspec %s", c.Input, got, *c.GomatrixserverlibCanonical, c.Canonical)
				}
				// Strict room versions must then refuse the input rather
				// than produce something other than the spec's encoding.
				requireBadJSON(t, fmt.Sprintf("EnforcedCanonicalJSON(%q, %q)", c.Input, strict), strictErr)
			}
			// The spec's canonical form is a fixed point, and valid in
			// strict room versions.
			again, err := gomatrixserverlib.EnforcedCanonicalJSON([]byte(c.Canonical), strict)
			if err != nil {
				t.Errorf("EnforcedCanonicalJSON(%q, %q): %v", c.Canonical, strict, err)
			} else if string(again) != c.Canonical {
				t.Errorf("canonical form is not a fixed point:\n got %s\nwant %s", again, c.Canonical)
			}
		})
	}
}

func TestSpecVectorsNumberRules(t *testing.T) {
	v := loadSpecVectors(t)
	strict := gomatrixserverlib.RoomVersion(v.NumberRules.StrictRoomVersion)
	lenient := gomatrixserverlib.RoomVersion(v.NumberRules.LenientRoomVersion)
	for _, c := range v.NumberRules.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.SpecValid && c.LenientOutput != c.Input {
				t.Fatalf("bad vector: a spec-valid input must be written canonically, %q != %q", c.Input, c.LenientOutput)
			}

			got, err := gomatrixserverlib.CanonicalJSON([]byte(c.Input))
			if err != nil {
				t.Errorf("CanonicalJSON(%q): %v", c.Input, err)
			} else if string(got) != c.LenientOutput {
				t.Errorf("CanonicalJSON(%q)\n got %s\nwant %s", c.Input, got, c.LenientOutput)
			}

			// Room versions 1 to 5: servers MUST NOT strictly enforce.
			got, err = gomatrixserverlib.EnforcedCanonicalJSON([]byte(c.Input), lenient)
			if err != nil {
				t.Errorf("EnforcedCanonicalJSON(%q, %q) refused: %v", c.Input, lenient, err)
			} else if string(got) != c.LenientOutput {
				t.Errorf("EnforcedCanonicalJSON(%q, %q)\n got %s\nwant %s", c.Input, lenient, got, c.LenientOutput)
			}

			// Room versions 6 and later: servers MUST strictly enforce.
			wantAccepted := c.SpecValid
			if c.GomatrixserverlibStrictAccepts != nil {
				if *c.GomatrixserverlibStrictAccepts == c.SpecValid {
					t.Fatalf("bad vector: gomatrixserverlib_strict_accepts is only for divergences from spec_valid")
				}
				wantAccepted = *c.GomatrixserverlibStrictAccepts
			}
			got, err = gomatrixserverlib.EnforcedCanonicalJSON([]byte(c.Input), strict)
			what := fmt.Sprintf("EnforcedCanonicalJSON(%q, %q)", c.Input, strict)
			switch {
			case !wantAccepted:
				requireBadJSON(t, what, err)
			case err != nil && c.GomatrixserverlibStrictAccepts != nil:
				t.Errorf("%s now refuses the input as the spec requires (%v): drop gomatrixserverlib_strict_accepts from %s", what, err, specVectorsFile)
			case err != nil:
				t.Errorf("%s: %v", what, err)
			case string(got) != c.LenientOutput:
				t.Errorf("%s\n got %s\nwant %s", what, got, c.LenientOutput)
			}
		})
	}
}

func TestSpecVectorsJSONSigning(t *testing.T) {
	v := loadSpecVectors(t)
	priv, pub := signingKey(t, v.SigningKey)
	server, keyID := v.SigningKey.ServerName, gomatrixserverlib.KeyID(v.SigningKey.KeyID)
	contentTampered := 0
	for _, c := range v.JSONSigning {
		t.Run(c.Name, func(t *testing.T) {
			want := mustCanonical(t, "expected signed JSON", c.Signed)

			t.Run("sign", func(t *testing.T) {
				got, err := gomatrixserverlib.SignJSON(server, keyID, priv, c.Input)
				if err != nil {
					t.Fatalf("SignJSON: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("SignJSON(%s)\n got %s\nwant %s (spec)", c.Input, got, want)
				}
			})

			t.Run("verify", func(t *testing.T) {
				if err := gomatrixserverlib.VerifyJSON(server, keyID, pub, c.Signed); err != nil {
					t.Errorf("VerifyJSON rejected the spec's signed JSON: %v", err)
				}
			})

			t.Run("unsigned is not covered", func(t *testing.T) {
				m := decodeObject(t, "signed JSON", want)
				m["unsigned"] = json.RawMessage(`{"age_ts":922834800000}`)
				if err := gomatrixserverlib.VerifyJSON(server, keyID, pub, encodeObject(t, "signed JSON", m)); err != nil {
					t.Errorf("VerifyJSON rejected the signed JSON with an unsigned member: %v", err)
				}
			})

			t.Run("wrong server name", func(t *testing.T) {
				if err := gomatrixserverlib.VerifyJSON(server+".invalid", keyID, pub, c.Signed); err == nil {
					t.Errorf("VerifyJSON accepted a signature under another server's name")
				}
			})

			t.Run("one byte of the signature changed", func(t *testing.T) {
				m := decodeObject(t, "signed JSON", want)
				var sigs map[string]map[string]string
				if err := json.Unmarshal(m["signatures"], &sigs); err != nil {
					t.Fatalf("decoding signatures: %v", err)
				}
				sig, ok := sigs[server][string(keyID)]
				if !ok || sig == "" {
					t.Fatalf("expected signed JSON has no signature from %s %s", server, keyID)
				}
				// Replacing the first base64 character changes the first byte
				// of the signature and keeps its length.
				first := byte('A')
				if sig[0] == 'A' {
					first = 'B'
				}
				sigs[server][string(keyID)] = string(first) + sig[1:]
				raw, err := json.Marshal(sigs)
				if err != nil {
					t.Fatal(err)
				}
				m["signatures"] = raw
				tampered := encodeObject(t, "tampered JSON", m)
				if !differsInOneByte(want, tampered) {
					t.Fatalf("tampering changed more than one byte:\n%s\n%s", want, tampered)
				}
				if err := gomatrixserverlib.VerifyJSON(server, keyID, pub, tampered); err == nil {
					t.Errorf("VerifyJSON accepted %s", tampered)
				}
			})

			t.Run("member added to the content", func(t *testing.T) {
				m := decodeObject(t, "signed JSON", want)
				m["added"] = json.RawMessage(`0`)
				tampered := encodeObject(t, "tampered JSON", m)
				if err := gomatrixserverlib.VerifyJSON(server, keyID, pub, tampered); err == nil {
					t.Errorf("VerifyJSON accepted %s", tampered)
				}
			})

			m := decodeObject(t, "signed JSON", want)
			keys := contentKeys(m)
			if len(keys) == 0 {
				return // nothing to change in place; see "member added to the content"
			}
			contentTampered++
			t.Run("one byte of the content changed", func(t *testing.T) {
				value, ok := changeOneByte(m[keys[0]])
				if !ok {
					t.Fatalf("no letter or digit to change in %q: %s", keys[0], m[keys[0]])
				}
				m[keys[0]] = value
				tampered := encodeObject(t, "tampered JSON", m)
				if !differsInOneByte(want, tampered) {
					t.Fatalf("tampering changed more than one byte:\n%s\n%s", want, tampered)
				}
				if err := gomatrixserverlib.VerifyJSON(server, keyID, pub, tampered); err == nil {
					t.Errorf("VerifyJSON accepted %s", tampered)
				}
			})
		})
	}
	if contentTampered == 0 {
		t.Errorf("no json_signing vector had content to tamper with")
	}
}
