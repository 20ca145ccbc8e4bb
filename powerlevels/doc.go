// Package powerlevels translates between the host's roles and Matrix power
// levels, both ways.
//
// Outbound, a Mapping gives the level of a role (owner 100, moderator 50,
// user 0 by default; a host may add its own, such as leader 75), builds the
// m.room.power_levels content of a new room (DefaultContent), and computes
// the content that gives a user a new role (SetRole), refusing, before
// anything is sent, a change the auth rules would reject.
//
// Inbound, a level is mapped back to a role by threshold (RoleFor: the
// highest role whose level the user reaches) and Diff turns two
// m.room.power_levels contents into the role changes to announce to the
// host, counting users removed from "users" and a changed "users_default".
//
// Contents are handled as raw JSON, as they appear in events, and are
// parsed per room version (string levels in versions 1-9, integers only
// from 10). Room version 12 is supported: its creators have infinite power
// and are never listed in "users".
//
// The package is pure computation. It must not import federation, rooms,
// storage or the root package; it uses gomatrixserverlib only to parse
// contents and to learn what a room version implies.
package powerlevels
