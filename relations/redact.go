package relations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// DefaultRedactLevel is the redact power level when m.room.power_levels
// has no redact key.
//
// https://spec.matrix.org/latest/client-server-api/#mroompower_levels
const DefaultRedactLevel = 50

// ErrRedactionNotApplied is wrapped by every reason CheckApplyRedaction
// gives for a received redaction that must be stored but not applied.
var ErrRedactionNotApplied = errors.New("relations: redaction not applied")

// RedactLevels is what deciding on a redaction needs of a room's power
// levels. The zero value is not the default: use ParseRedactLevels.
type RedactLevels struct {
	// Redact is the level needed to redact other users' events.
	Redact int64
	// Users are the levels of named users; UsersDefault is everyone else's.
	Users        map[string]int64
	UsersDefault int64
	// Creators have infinite power: from room version 12, the sender of
	// m.room.create and its additional_creators. Leave empty before v12
	// (there the creator's power is in Users like anyone's).
	Creators []string
}

// ParseRedactLevels reads the redact, users and users_default keys of an
// m.room.power_levels content (nil when the room has none: redact 50,
// everyone 0) and takes the v12 creators as given. Values must be JSON
// integers, as the auth rules require from room version 10; a value of
// another type is ignored (its default applies).
func ParseRedactLevels(powerLevels []byte, creators []string) RedactLevels {
	l := RedactLevels{Redact: DefaultRedactLevel, Creators: creators}
	var raw struct {
		Redact       json.RawMessage            `json:"redact"`
		Users        map[string]json.RawMessage `json:"users"`
		UsersDefault json.RawMessage            `json:"users_default"`
	}
	if !bytes.HasPrefix(bytes.TrimLeft(powerLevels, " \t\r\n"), []byte("{")) ||
		json.Unmarshal(powerLevels, &raw) != nil {
		// The map may not decode as a whole (a user with a non-number
		// level): read the scalar keys on their own.
		var scalars struct {
			Redact       json.RawMessage `json:"redact"`
			UsersDefault json.RawMessage `json:"users_default"`
		}
		if json.Unmarshal(powerLevels, &scalars) != nil {
			return l
		}
		raw.Redact, raw.UsersDefault = scalars.Redact, scalars.UsersDefault
	}
	if v, ok := integer(raw.Redact); ok {
		l.Redact = v
	}
	if v, ok := integer(raw.UsersDefault); ok {
		l.UsersDefault = v
	}
	for u, rv := range raw.Users {
		if v, ok := integer(rv); ok {
			if l.Users == nil {
				l.Users = map[string]int64{}
			}
			l.Users[u] = v
		}
	}
	return l
}

// integer is raw as a JSON integer that fits an int64.
func integer(raw json.RawMessage) (int64, bool) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s[0] == '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// mayRedactOthers reports whether user's power reaches the redact level.
func (l RedactLevels) mayRedactOthers(user string) bool {
	if slices.Contains(l.Creators, user) {
		return true // infinite power (room version 12)
	}
	level, ok := l.Users[user]
	if !ok {
		level = l.UsersDefault
	}
	return level >= l.Redact
}

// MayRedact reports whether redacter may redact an event sent by
// targetSender: anyone may redact their own events; other users' need the
// redact power level (moderators, 50, by default). This is the check for
// a redaction we are about to send for a local user.
//
// https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid
func MayRedact(levels RedactLevels, redacter, targetSender string) bool {
	return redacter == targetSender || levels.mayRedactOthers(redacter)
}

// CheckApplyRedaction reports whether a redaction that passed auth is
// applied to target. It is when it names target, is in the same room, and
// either its sender's power reaches the redact level (levels is the state
// the redaction was authorised against) or its sender is on the same
// server as target's sender. Otherwise (errors wrap ErrRedactionNotApplied)
// the redaction is stored and nothing is applied.
//
// https://spec.matrix.org/latest/rooms/v11/#handling-redactions
func CheckApplyRedaction(levels RedactLevels, redaction, target Event) error {
	switch {
	case redaction.Type != TypeRedaction:
		return fmt.Errorf("%w: %s is an %s, not a redaction", ErrRedactionNotApplied, redaction.EventID, redaction.Type)
	case redaction.Redacts != target.EventID:
		return fmt.Errorf("%w: %s redacts %q, not %s", ErrRedactionNotApplied, redaction.EventID, redaction.Redacts, target.EventID)
	case redaction.RoomID != target.RoomID:
		return fmt.Errorf("%w: %s is in another room than %s", ErrRedactionNotApplied, redaction.EventID, target.EventID)
	case levels.mayRedactOthers(redaction.Sender):
		return nil
	case SameServer(redaction.Sender, target.Sender):
		return nil
	}
	return fmt.Errorf("%w: %s has not the redact level and is not on the server of %s", ErrRedactionNotApplied, redaction.Sender, target.Sender)
}

// SameServer reports whether the user IDs a and b are on the same server.
// Both are parsed as user IDs (historical localparts allowed), so server
// names with ports and IPv6 literals compare whole; an invalid ID is on no
// server.
func SameServer(a, b string) bool {
	ua, err := spec.NewUserID(a, true)
	if err != nil {
		return false
	}
	ub, err := spec.NewUserID(b, true)
	if err != nil {
		return false
	}
	return ua.Domain() == ub.Domain()
}
