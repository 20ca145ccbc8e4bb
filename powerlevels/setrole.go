package powerlevels

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Sentinel errors of SetRole and SetLevel.
var (
	// ErrNotAllowed: the auth rules for m.room.power_levels would reject
	// the change; the error says which rule.
	ErrNotAllowed = errors.New("powerlevels: not allowed by the auth rules")
	// ErrCreator: the target is a creator of a room whose version gives
	// creators infinite power (12); their power cannot change. Errors
	// matching it match ErrNotAllowed too.
	ErrCreator = errors.New("powerlevels: the power of a room creator cannot change")
	// ErrUnknownRole: the Mapping has no such role.
	ErrUnknownRole = errors.New("powerlevels: unknown role")
	// ErrInvalidLevel: the level is outside MinLevel..MaxLevel.
	ErrInvalidLevel = errors.New("powerlevels: level out of range")
	// ErrUnchanged: the target already has the role (or level); there is
	// nothing to send. A host may treat it as success.
	ErrUnchanged = errors.New("powerlevels: no change")
)

// SetRole returns the m.room.power_levels content that gives target the
// role, computed from the room's current content, for sender to send. It
// refuses, before anything is sent, a change the auth rules would reject;
// see SetLevel for the rules and the shape of the result.
//
// A target whose level already falls in the role's band (a moderator at
// 60 asked to be moderator) is left alone: ErrUnchanged. A target below
// the lowest role's level is not in its band, so SetRole(..., RoleUser)
// lifts a muted member at -5 back to the user level.
func (m *Mapping) SetRole(room Room, content []byte, sender, target string, role Role) (json.RawMessage, error) {
	m = m.get()
	level, ok := m.Level(role)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRole, role)
	}
	l, err := Parse(room, content)
	if err != nil {
		return nil, err
	}
	if cur := l.UserLevel(target); !l.IsCreator(target) && m.inBand(cur, role) {
		return nil, fmt.Errorf("%w: %s is already %s (level %d)", ErrUnchanged, target, role, cur)
	}
	return SetLevel(room, content, sender, target, level)
}

// inBand reports whether level maps to role and is not below its level.
func (m *Mapping) inBand(level int64, role Role) bool {
	min, _ := m.Level(role)
	return level >= min && m.RoleFor(level) == role
}

// SetLevel returns the m.room.power_levels content that gives target the
// power level, computed from the room's current content, for sender to
// send. It applies the auth rules for m.room.power_levels (rooms v10-v12,
// rules 8 and 10) to the change, with the sender's level taken from the
// current content (and the room's creators in version 12):
//
//   - "If the event type's required power level is greater than the
//     sender's power level, reject": the sender needs the level of
//     events["m.room.power_levels"], else state_default;
//   - v12 only: "If the users property in content contains the sender of
//     the m.room.create event or any of the additional_creators ...,
//     reject": a creator's power cannot change (ErrCreator);
//   - "For each entry being added to, or changed in, the users property:
//     If the new value is greater than the sender's current power level,
//     reject": no one is raised above the sender;
//   - "For each entry being changed in, or removed from, the users
//     property, other than the sender's own entry: If the current value is
//     greater than or equal to the sender's current power level, reject":
//     the sender may lower themselves, but not touch a peer or a superior.
//
// Every refusal matches ErrNotAllowed. What the power levels cannot tell
// is left to the caller: the sender must be joined to the room (rule 6),
// and the event must be built on the state the content came from.
//
// Only the target's entry in "users" changes; every other property of the
// content is kept as it was, unknown ones included. A target set to the
// users_default level is removed from "users" rather than listed. Setting
// the level a target already has is ErrUnchanged. An empty content (no
// power_levels event in the room) is ErrBadContent: this function edits
// power levels, it does not create them (see DefaultContent).
func SetLevel(room Room, content []byte, sender, target string, level int64) (json.RawMessage, error) {
	if err := validUserID(sender); err != nil {
		return nil, fmt.Errorf("powerlevels: sender: %w", err)
	}
	if err := validUserID(target); err != nil {
		return nil, fmt.Errorf("powerlevels: target: %w", err)
	}
	if level < MinLevel || level > MaxLevel {
		return nil, fmt.Errorf("%w: %d is outside %d..%d", ErrInvalidLevel, level, MinLevel, MaxLevel)
	}
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, fmt.Errorf("%w: the room has no m.room.power_levels content to change", ErrBadContent)
	}
	l, err := Parse(room, content)
	if err != nil {
		return nil, err
	}
	if l.IsCreator(target) {
		return nil, fmt.Errorf("%w: %w: %s created the room", ErrNotAllowed, ErrCreator, target)
	}
	senderLevel := l.UserLevel(sender)
	if required := l.Content.EventLevel(spec.MRoomPowerLevels, true); senderLevel < required {
		return nil, fmt.Errorf("%w: %s has level %d, sending m.room.power_levels needs %d",
			ErrNotAllowed, sender, senderLevel, required)
	}
	old := l.UserLevel(target)
	if old == level {
		return nil, fmt.Errorf("%w: %s already has level %d", ErrUnchanged, target, level)
	}
	if level > senderLevel {
		return nil, fmt.Errorf("%w: %s has level %d and cannot give level %d",
			ErrNotAllowed, sender, senderLevel, level)
	}
	if target != sender && old >= senderLevel {
		return nil, fmt.Errorf("%w: %s has level %d and cannot change %s, who has level %d",
			ErrNotAllowed, sender, senderLevel, target, old)
	}
	return withUserLevel(content, target, level, level == l.Content.UsersDefault)
}

// withUserLevel returns content with users[target] set to level, or
// removed, keeping every other property as it is.
func withUserLevel(content []byte, target string, level int64, remove bool) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(content, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContent, err)
	}
	users := map[string]json.RawMessage{}
	if raw, ok := top["users"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if err := json.Unmarshal(raw, &users); err != nil {
			return nil, fmt.Errorf("%w: users: %v", ErrBadContent, err)
		}
	}
	if remove {
		delete(users, target)
	} else {
		users[target] = json.RawMessage(strconv.FormatInt(level, 10))
	}
	rawUsers, err := marshal(users)
	if err != nil {
		return nil, err
	}
	top["users"] = rawUsers
	return marshal(top)
}
