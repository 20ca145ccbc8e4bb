package powerlevels

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Sentinel errors a host can match with errors.Is.
var (
	// ErrUnsupportedRoomVersion: gomatrixserverlib does not know the
	// room version.
	ErrUnsupportedRoomVersion = errors.New("powerlevels: unsupported room version")
	// ErrBadContent: a power_levels content is not valid for the room
	// version (not an object, a level that is not an integer...).
	ErrBadContent = errors.New("powerlevels: malformed m.room.power_levels content")
	// ErrInvalidUserID: a user ID is not @localpart:server.
	ErrInvalidUserID = errors.New("powerlevels: invalid user ID")
)

// Room is what the power level rules need to know about a room besides its
// m.room.power_levels content.
type Room struct {
	// Version is the room version: "10", "11", "12"...
	Version string
	// Creators are the room's creators: first the sender of the
	// m.room.create event, then the "additional_creators" of its content
	// (room version 12 and later). In versions that give creators
	// infinite power every creator has CreatorLevel; in earlier versions
	// only Creators[0] matters, and only while the room has no
	// m.room.power_levels event (it then has level 100).
	Creators []string
}

// privilegedCreators reports whether the room version gives creators
// infinite power (version 12 and later).
func (r Room) privilegedCreators() (bool, error) {
	v, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(r.Version))
	if err != nil {
		return false, fmt.Errorf("%w: %q", ErrUnsupportedRoomVersion, r.Version)
	}
	return v.PrivilegedCreators(), nil
}

// Levels are the effective power levels of a room: its m.room.power_levels
// content with the spec's defaults filled in, and its creators.
type Levels struct {
	// Content is the parsed content with defaults applied: a property the
	// event leaves out has its default (ban, kick, redact and
	// state_default 50; invite, events_default and users_default 0;
	// notifications.room 50).
	Content gomatrixserverlib.PowerLevelContent

	creators   []string
	privileged bool // creators have infinite power
}

// Parse parses the m.room.power_levels content of a room. An empty content
// (nil or zero-length) means the room has no m.room.power_levels event:
// "the room's creator has a power level of 100, and all other users have a
// power level of 0", and state_default is 50 (m.room.power_levels); in
// room version 12 creators have infinite power, with or without the event.
//
// Levels are parsed as the room version says: versions 1-9 accept the
// historical string and float levels ("50", 50.0), later versions only
// integers.
func Parse(room Room, content []byte) (*Levels, error) {
	privileged, err := room.privilegedCreators()
	if err != nil {
		return nil, err
	}
	l := &Levels{creators: room.Creators, privileged: privileged}
	if len(bytes.TrimSpace(content)) == 0 {
		l.Content.Defaults()
		if !privileged && len(room.Creators) > 0 {
			l.Content.Users = map[string]int64{room.Creators[0]: DefaultOwnerLevel}
		}
		return l, nil
	}
	if !isJSONObject(content) {
		return nil, fmt.Errorf("%w: not a JSON object", ErrBadContent)
	}
	l.Content.Defaults()
	v, _ := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(room.Version))
	if err := v.ParsePowerLevels(content, &l.Content); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContent, err)
	}
	return l, nil
}

// IsCreator reports whether the user is a creator of a room whose version
// gives creators infinite power.
func (l *Levels) IsCreator(userID string) bool {
	return l.privileged && slices.Contains(l.creators, userID)
}

// UserLevel returns a user's effective power level: CreatorLevel for a
// creator of a version 12 room, else the user's entry in "users", else
// "users_default".
func (l *Levels) UserLevel(userID string) int64 {
	if l.IsCreator(userID) {
		return CreatorLevel
	}
	return l.Content.UserLevel(spec.SenderID(userID))
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// validUserID checks a user ID as the auth rules do for the keys of
// "users" (and for senders): historical localparts are allowed, but, as
// the spec's Historical User IDs say, only as valid Unicode without NUL
// (invalid UTF-8 would not survive as a JSON key).
func validUserID(id string) error {
	if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("%w %q: not valid UTF-8 or has NUL", ErrInvalidUserID, id)
	}
	if _, err := spec.NewUserID(id, true); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidUserID, id, err)
	}
	return nil
}

// defaultContent is the JSON shape of DefaultContent's result.
type defaultContent struct {
	Ban           int64            `json:"ban"`
	Events        map[string]int64 `json:"events"`
	EventsDefault int64            `json:"events_default"`
	Invite        int64            `json:"invite"`
	Kick          int64            `json:"kick"`
	Notifications map[string]int64 `json:"notifications"`
	Redact        int64            `json:"redact"`
	StateDefault  int64            `json:"state_default"`
	Users         map[string]int64 `json:"users"`
	UsersDefault  int64            `json:"users_default"`
}

// DefaultContent returns the m.room.power_levels content of a new room:
//
//   - ban, kick, redact, invite, state_default and notifications.room at
//     the moderator level: moderators run the room and may change any
//     state not named below;
//   - m.room.name and m.room.topic at the moderator level;
//   - m.room.power_levels, m.room.history_visibility, m.room.server_acl,
//     m.room.tombstone and m.room.encryption at the owner level;
//   - users_default and events_default at the user level (0 by default):
//     members may talk, and a member set below the user level is muted;
//   - the creators at the owner level in "users", except in versions
//     where creators have infinite power (12), which forbid listing them:
//     "If the users property in content contains the sender of the
//     m.room.create event or any of the additional_creators ..., reject."
//
// In version 12 m.room.tombstone "MUST be explicitly defined and given a
// power level higher than state_default": the owner level is, as a
// Mapping keeps owner above moderator.
//
// The result is a JSON object with every property present (no nulls), to
// be used as the event's content as it is.
func (m *Mapping) DefaultContent(room Room) (json.RawMessage, error) {
	m = m.get()
	privileged, err := room.privilegedCreators()
	if err != nil {
		return nil, err
	}
	if len(room.Creators) == 0 {
		return nil, fmt.Errorf("%w: a new room needs a creator", ErrInvalidUserID)
	}
	owner, _ := m.Level(RoleOwner)
	mod, _ := m.Level(RoleModerator)
	user, _ := m.Level(RoleUser)
	c := defaultContent{
		Ban:    mod,
		Kick:   mod,
		Redact: mod,
		Invite: mod,
		Events: map[string]int64{
			spec.MRoomName:              mod,
			spec.MRoomTopic:             mod,
			spec.MRoomPowerLevels:       owner,
			spec.MRoomHistoryVisibility: owner,
			"m.room.server_acl":         owner,
			"m.room.tombstone":          owner,
			spec.MRoomEncryption:        owner,
		},
		EventsDefault: user,
		Notifications: map[string]int64{"room": mod},
		StateDefault:  mod,
		Users:         map[string]int64{},
		UsersDefault:  user,
	}
	for _, id := range room.Creators {
		if err := validUserID(id); err != nil {
			return nil, fmt.Errorf("powerlevels: creator: %w", err)
		}
		if !privileged {
			c.Users[id] = owner
		}
	}
	return marshal(c)
}

// marshal encodes v without escaping <, > and & (the canonical JSON of
// the event does not either) and without a trailing newline.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("powerlevels: encode content: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
