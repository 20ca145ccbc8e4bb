package powerlevels

import (
	"slices"
	"strings"
)

// RoleChange is a change of one user's effective power level that moves
// the user to another role.
type RoleChange struct {
	UserID   string // full Matrix user ID
	OldLevel int64  // effective level before (CreatorLevel for a v12 creator)
	NewLevel int64  // effective level after
	OldRole  Role   // RoleFor(OldLevel)
	NewRole  Role   // RoleFor(NewLevel), never equal to OldRole
}

// Diff returns the role changes between two m.room.power_levels contents
// of a room, sorted by user ID, to announce to the host when a new
// power_levels event is accepted. An empty old content means the room had
// no power_levels event (see Parse).
//
// Levels are effective levels, so Diff sees users whose entry was removed
// from "users" (they fall back to users_default), users added, and a
// changed users_default. The last affects every member not listed in
// "users", which the contents alone cannot name: members are the room's
// current members (whatever membership the caller counts); users listed in
// either content are compared whether or not they are members.
//
// A change of level within a role (60 to 70, both moderator) is not a
// role change and is not reported. Creators of a version 12 room have
// infinite power in both contents and never change.
func (m *Mapping) Diff(room Room, old, new []byte, members []string) ([]RoleChange, error) {
	m = m.get()
	before, err := Parse(room, old)
	if err != nil {
		return nil, err
	}
	after, err := Parse(room, new)
	if err != nil {
		return nil, err
	}
	users := make(map[string]struct{}, len(before.Content.Users)+len(after.Content.Users)+len(members))
	for u := range before.Content.Users {
		users[u] = struct{}{}
	}
	for u := range after.Content.Users {
		users[u] = struct{}{}
	}
	for _, u := range members {
		users[u] = struct{}{}
	}
	var changes []RoleChange
	for u := range users {
		oldLevel, newLevel := before.UserLevel(u), after.UserLevel(u)
		if oldLevel == newLevel {
			continue
		}
		oldRole, newRole := m.RoleFor(oldLevel), m.RoleFor(newLevel)
		if oldRole == newRole {
			continue
		}
		changes = append(changes, RoleChange{
			UserID: u, OldLevel: oldLevel, NewLevel: newLevel, OldRole: oldRole, NewRole: newRole,
		})
	}
	slices.SortFunc(changes, func(a, b RoleChange) int { return strings.Compare(a.UserID, b.UserID) })
	return changes, nil
}
