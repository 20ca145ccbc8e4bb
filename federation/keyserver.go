package federation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// KeyValidity is how long the keys we publish stay valid for others.
// Spec: servers should publish a valid_until_ts no more than 7 days ahead.
const KeyValidity = 24 * time.Hour

// ServerKeys returns our self-signed /_matrix/key/v2/server response.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixkeyv2server
func (id *Identity) ServerKeys(now time.Time) ([]byte, error) {
	fields := gomatrixserverlib.ServerKeyFields{
		ServerName:    id.ServerName,
		ValidUntilTS:  spec.AsTimestamp(now.Add(KeyValidity)),
		VerifyKeys:    map[gomatrixserverlib.KeyID]gomatrixserverlib.VerifyKey{id.KeyID: {Key: spec.Base64Bytes(id.PublicKey())}},
		OldVerifyKeys: map[gomatrixserverlib.KeyID]gomatrixserverlib.OldVerifyKey{},
	}
	for _, old := range id.Old {
		fields.OldVerifyKeys[old.KeyID] = gomatrixserverlib.OldVerifyKey{
			VerifyKey: gomatrixserverlib.VerifyKey{Key: spec.Base64Bytes(old.PublicKey)},
			ExpiredTS: old.ExpiredTS,
		}
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("federation: encode server keys: %w", err)
	}
	return id.Sign(raw)
}

// Sign adds our signature to a JSON object and returns it canonical.
func (id *Identity) Sign(obj []byte) ([]byte, error) {
	signed, err := gomatrixserverlib.SignJSON(string(id.ServerName), id.KeyID, id.PrivateKey, obj)
	if err != nil {
		return nil, fmt.Errorf("federation: sign: %w", err)
	}
	return gomatrixserverlib.CanonicalJSON(signed)
}
