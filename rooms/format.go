package rooms

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// integerJSON is a JSON number without a fraction or exponent.
var integerJSON = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// pduField is one top-level field the PDU format requires, with the JSON
// type it must have.
type pduField struct {
	name string
	kind gjson.Type // gjson.String, gjson.Number (an integer) or gjson.JSON
	list bool       // for gjson.JSON: an array, otherwise an object
}

// requiredFields are the PDU fields of room versions 10 to 12.
// gomatrixserverlib decodes a missing origin_server_ts or depth as 0, a
// missing sender or type as "", and an event without hashes as a redacted
// one, so these are checked before it parses.
// https://spec.matrix.org/v1.16/rooms/v10/#event-format
// https://spec.matrix.org/v1.16/rooms/v12/#event-format
var requiredFields = []pduField{
	{name: "type", kind: gjson.String},
	{name: "room_id", kind: gjson.String},
	{name: "sender", kind: gjson.String},
	{name: "origin_server_ts", kind: gjson.Number},
	{name: "depth", kind: gjson.Number},
	{name: "prev_events", kind: gjson.JSON, list: true},
	{name: "auth_events", kind: gjson.JSON, list: true},
	{name: "content", kind: gjson.JSON},
	{name: "hashes", kind: gjson.JSON},
	{name: "signatures", kind: gjson.JSON},
}

// checkFormat refuses (ErrBadEvent) a PDU missing a field the PDU format
// requires, or with one of the wrong JSON type: origin_server_ts or depth
// as a string or a float, content as an array, and so on. The create event
// of a v12 room has no room_id (its ID is the create event's).
func checkFormat(v gomatrixserverlib.IRoomVersion, raw []byte) error {
	if !gjson.ValidBytes(raw) {
		return fmt.Errorf("%w: PDU is not valid JSON", ErrBadEvent)
	}
	doc := gjson.ParseBytes(raw)
	if !doc.IsObject() {
		return fmt.Errorf("%w: PDU is not a JSON object", ErrBadEvent)
	}
	isCreate := doc.Get("type").Str == spec.MRoomCreate && doc.Get("state_key").Exists()
	for _, f := range requiredFields {
		r := doc.Get(f.name)
		if f.name == "room_id" && v.DomainlessRoomIDs() && isCreate {
			continue
		}
		if !r.Exists() {
			return fmt.Errorf("%w: PDU has no %s", ErrBadEvent, f.name)
		}
		ok := r.Type == f.kind
		switch {
		case ok && f.kind == gjson.Number:
			ok = integerJSON.MatchString(r.Raw)
		case ok && f.kind == gjson.JSON:
			ok = r.IsArray() == f.list
		}
		if !ok {
			return fmt.Errorf("%w: PDU field %s is not %s", ErrBadEvent, f.name, f.describe())
		}
	}
	if sk := doc.Get("state_key"); sk.Exists() && sk.Type != gjson.String {
		return fmt.Errorf("%w: PDU field state_key is not a string", ErrBadEvent)
	}
	if h := doc.Get("hashes.sha256"); h.Type != gjson.String {
		return fmt.Errorf("%w: PDU has no hashes.sha256 string", ErrBadEvent)
	}
	return nil
}

func (f pduField) describe() string {
	switch {
	case f.kind == gjson.String:
		return "a string"
	case f.kind == gjson.Number:
		return "an integer"
	case f.list:
		return "an array"
	}
	return "an object"
}

// EventIDOf computes the event ID of an untrusted PDU of a room version
// whose event IDs are reference hashes (4 and later: all ours), without
// parsing it as an event, so that a PDU refused for its format can still be
// named in a /send answer. It fails when even the redaction algorithm
// cannot read the PDU.
// https://spec.matrix.org/v1.16/server-server-api/#calculating-the-reference-hash-for-an-event
func EventIDOf(version string, raw []byte) (string, error) {
	v, err := Version(version)
	if err != nil {
		return "", err
	}
	redacted, err := v.RedactEventJSON(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	for _, k := range []string{"signatures", "unsigned", "age_ts"} {
		if redacted, err = sjson.DeleteBytes(redacted, k); err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadEvent, err)
		}
	}
	canonical, err := gomatrixserverlib.CanonicalJSON(redacted)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	sum := sha256.Sum256(canonical)
	return "$" + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
