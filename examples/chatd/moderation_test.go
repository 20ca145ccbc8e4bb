package main

import (
	"fmt"
	"net/url"
	"testing"
)

// Roles: owner, moderator, user, set on one server and seen on both.
func TestRoles(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	bob := b.id("bob")
	if m, _ := a.room("alice", roomID).member(bob); m.Role != "user" {
		t.Fatalf("a joined user's role: %+v", m)
	}
	rolePath := roomPath(roomID, "/roles/"+url.PathEscape(bob))
	a.must(200, "PUT", rolePath, "alice", map[string]string{"role": "moderator"}, nil)
	for _, n := range []*node{a, b} {
		user := map[*node]string{a: "alice", b: "bob"}[n]
		eventually(t, n.name()+" shows bob as moderator", func() error {
			if m, _ := n.room(user, roomID).member(bob); m.Role != "moderator" {
				return fmt.Errorf("%+v", m)
			}
			return nil
		})
	}
	// A moderator may not make himself owner, nor demote the owner.
	b.refused(403, "M_FORBIDDEN", "PUT", rolePath, "bob", map[string]string{"role": "owner"})
	b.refused(403, "M_FORBIDDEN", "PUT", roomPath(roomID, "/roles/"+url.PathEscape(a.id("alice"))), "bob", map[string]string{"role": "user"})
	// The path's user may be escaped fully, as encodeURIComponent does.
	full := roomPath(roomID, "/roles/"+url.QueryEscape(bob))
	a.must(200, "PUT", full, "alice", map[string]string{"role": "user"}, nil)
	if m, _ := a.room("alice", roomID).member(bob); m.Role != "user" {
		t.Fatalf("bob back to user: %+v", m)
	}
	a.refused(400, "M_INVALID_PARAM", "PUT", rolePath, "alice", map[string]string{"role": "admin"})
	a.refused(400, "M_MISSING_PARAM", "PUT", rolePath, "alice", map[string]string{})
	a.refused(400, "M_INVALID_PARAM", "PUT", roomPath(roomID, "/roles/bob"), "alice", map[string]string{"role": "user"})
	a.refused(404, "M_NOT_FOUND", "PUT", roomPath("!nowhere:"+a.name(), "/roles/"+url.PathEscape(bob)), "alice", map[string]string{"role": "user"})
}

// Kick, ban (with reason, listed), inviting a banned user refused, unban.
func TestModeration(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	bob := b.id("bob")

	b.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/kick"), "bob", map[string]string{"user": a.id("alice")})
	a.must(200, "POST", roomPath(roomID, "/kick"), "alice", map[string]string{"user": bob, "reason": "cool off"}, nil)
	a.memberIs("alice", roomID, bob, "leave", "accepted")
	eventually(t, "the kick reaches bob's list", func() error {
		if _, ok := b.entry("bob", roomID); ok {
			return fmt.Errorf("still listed")
		}
		return nil
	})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/kick"), "alice", map[string]string{"user": bob})

	a.must(200, "POST", roomPath(roomID, "/ban"), "alice", map[string]string{"user": bob, "reason": "spam"}, nil)
	r := a.room("alice", roomID)
	if len(r.Banned) != 1 || r.Banned[0].UserID != bob || r.Banned[0].Reason != "spam" {
		t.Fatalf("banned: %+v", r.Banned)
	}
	if m, _ := r.member(bob); m.Membership != "ban" {
		t.Fatalf("bob: %+v", m)
	}
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": bob})

	a.must(200, "POST", roomPath(roomID, "/unban"), "alice", map[string]string{"user": bob}, nil)
	if r := a.room("alice", roomID); len(r.Banned) != 0 {
		t.Fatalf("still banned: %+v", r.Banned)
	}
	a.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/unban"), "alice", map[string]string{"user": bob})
	a.must(200, "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": bob}, nil)
	b.must(200, "POST", roomPath(roomID, "/accept"), "bob", nil, nil)
	a.memberIs("alice", roomID, bob, "join", "accepted")

	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/ban"), "alice", map[string]string{"reason": "who?"})
	a.refused(400, "M_INVALID_PARAM", "POST", roomPath(roomID, "/ban"), "alice", map[string]string{"user": "nobody"})
	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/kick"), "alice", nil)
	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/unban"), "alice", nil)
	a.refused(404, "M_NOT_FOUND", "POST", roomPath("!nowhere:"+a.name(), "/ban"), "alice", map[string]string{"user": bob})
}

// A moderator on another server bans a local user; the ban shows here.
func TestRemoteModerator(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	bob := b.id("bob")
	a.must(200, "PUT", roomPath(roomID, "/roles/"+url.PathEscape(bob)), "alice", map[string]string{"role": "moderator"}, nil)
	carol := a.id("carol")
	a.must(200, "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": carol}, nil)
	a.must(200, "POST", roomPath(roomID, "/accept"), "carol", nil, nil)
	eventually(t, "B sees carol and bob's new role", func() error {
		r := b.room("bob", roomID)
		c, _ := r.member(carol)
		m, _ := r.member(bob)
		if c.Membership != "join" || m.Role != "moderator" {
			return fmt.Errorf("carol %+v, bob %+v", c, m)
		}
		return nil
	})
	b.must(200, "POST", roomPath(roomID, "/ban"), "bob", map[string]string{"user": carol, "reason": "testing"}, nil)
	eventually(t, "A lists carol as banned", func() error {
		r := a.room("alice", roomID)
		if len(r.Banned) != 1 || r.Banned[0].UserID != carol || r.Banned[0].Reason != "testing" {
			return fmt.Errorf("%+v", r.Banned)
		}
		return nil
	})

}

// After bob is kicked and joins again, B must follow the room: here it
// must see carol, who joins afterwards. (A regression test: B once kept
// the kick as a forward extremity after the rejoin, and carol's join
// soft-failed there.)
func TestRejoinAfterKick(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	bob, carol := b.id("bob"), a.id("carol")
	a.must(200, "POST", roomPath(roomID, "/kick"), "alice", map[string]string{"user": bob}, nil)
	a.must(200, "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": bob}, nil)
	b.must(200, "POST", roomPath(roomID, "/accept"), "bob", nil, nil)
	a.must(200, "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": carol}, nil)
	a.must(200, "POST", roomPath(roomID, "/accept"), "carol", nil, nil)
	b.memberIs("bob", roomID, carol, "join", "")
}
