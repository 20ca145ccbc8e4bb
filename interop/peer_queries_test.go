package interop

import (
	"slices"
	"testing"

	homeserver "github.com/embedmatrix/homeserver"
)

// What other servers ask of us and we of them (issue 13) against
// Dendrite: profiles and presence, in room versions 10 and 12, both ways.
// Each test has a room of its own per version: our alice's channel with a
// Dendrite bob joined (scenario 1, through the recording proxy).
// OursToDendrite: our user acts through the library, Dendrite's
// client-server API shows it; DendriteToOurs: bob acts through Dendrite's
// client-server API, our hooks and read methods show it.

// TestPeer01_Profiles: display names and avatars both ways. Ours to
// Dendrite: SetProfile sends a new join carrying them (Dendrite's /sync),
// Dendrite's GET /profile/{ourUser} shows them (it asks our
// /query/profile every time, so this is our answer), also for a user of
// ours in no room, and a later invite carries them in its invite_state.
// Dendrite to ours: bob's display name and avatar changes reach
// Hooks.OnMembership as "profile" changes saying what changed,
// Server.Profile shows them (from his join), and Message.SenderName his
// name; a Dendrite user sharing no room is read through Dendrite's
// /query/profile.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1queryprofile
func TestPeer01_Profiles(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, v string) {
		alice, bob := r.o.userID(r.local), r.remote.UserID
		t.Run("OursToDendrite", func(t *testing.T) {
			name, avatar := "Alice "+randomString(5), "mxc://"+r.o.name+"/alice"+randomString(6)
			if err := r.o.srv.SetProfile(ctx(t), r.local, name, avatar); err != nil {
				t.Fatalf("our SetProfile: %v", err)
			}
			j, ok := r.remote.waitTimeline(r.id, func(e event) bool {
				return isMembership(alice, "join")(e) && e.str("displayname") == name
			})
			if !ok {
				t.Fatalf("Dendrite's /sync did not show %s's new join with displayname %q within %s", alice, name, waitTimeout)
			}
			if got := j.V.Event.str("avatar_url"); got != avatar {
				t.Errorf("Dendrite's /sync shows the new join with avatar_url %q, want %q", got, avatar)
			}
			p, err := r.remote.profile(alice)
			if err != nil || p.DisplayName != name || p.AvatarURL != avatar {
				t.Errorf("Dendrite's GET /profile/%s: %+v, %v; want %q, %q", alice, p, err, name, avatar)
			}

			// A user of ours in no room: only our /query/profile can say.
			erinName := "Erin " + randomString(5)
			if err := r.o.srv.SetProfile(ctx(t), "erin", erinName, ""); err != nil {
				t.Fatalf("our SetProfile(erin): %v", err)
			}
			if p, err := r.remote.profile(r.o.userID("erin")); err != nil || p.DisplayName != erinName || p.AvatarURL != "" {
				t.Errorf("Dendrite's GET /profile of our erin (in no room): %+v, %v; want %q and no avatar", p, err, erinName)
			}

			// Later invites carry the profile: a new channel of alice's.
			e := &env{d: r.d, p: r.p, o: r.o}
			r2 := e.ourChannel(t, v, false)
			inv := r2.inviteRemote(t, r.remote, nil)
			m, ok := findState(inv.V.Invite, "m.room.member", alice)
			if !ok || m.str("displayname") != name || m.str("avatar_url") != avatar {
				t.Errorf("the invite_state of a later invite shows alice's member event %v (found %t); want displayname %q, avatar_url %q", m, ok, name, avatar)
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			// Dendrite's join carried its default display name, the localpart.
			if j, ok := r.o.waitMembership(r.id, bob, "join"); ok {
				t.Logf("REPORT: Dendrite's join of %s carries displayname %q (Dendrite's default is the localpart), avatar %q", bob, j.V.DisplayName, j.V.AvatarURL)
			}
			name, avatar := "Bob "+randomString(5), "mxc://"+r.d.name+"/bob"+randomString(6)
			if err := r.remote.setDisplayName(name); err != nil {
				t.Fatalf("Dendrite PUT displayname: %v", err)
			}
			m, ok := r.o.memberships.wait(waitTimeout, func(m homeserver.Membership) bool {
				return m.RoomID == r.id && m.UserID == bob && m.Change == "profile" && m.DisplayName == name
			})
			if !ok {
				t.Fatalf("our OnMembership did not report %s's new display name %q as a profile change within %s", bob, name, waitTimeout)
			}
			if !slices.Equal(m.V.Changed, []string{"displayname"}) || m.V.Membership != "join" || m.V.Sender != bob {
				t.Errorf("OnMembership for the display name: %+v; want Changed [displayname], membership join, sender %s", m.V, bob)
			}
			if err := r.remote.setAvatarURL(avatar); err != nil {
				t.Fatalf("Dendrite PUT avatar_url: %v", err)
			}
			m, ok = r.o.memberships.wait(waitTimeout, func(m homeserver.Membership) bool {
				return m.RoomID == r.id && m.UserID == bob && m.Change == "profile" && m.AvatarURL == avatar
			})
			if !ok {
				t.Fatalf("our OnMembership did not report %s's new avatar %q as a profile change within %s", bob, avatar, waitTimeout)
			}
			if !slices.Equal(m.V.Changed, []string{"avatar_url"}) || m.V.DisplayName != name {
				t.Errorf("OnMembership for the avatar: %+v; want Changed [avatar_url] and the display name %q kept", m.V, name)
			}
			p, err := r.o.srv.Profile(ctx(t), bob)
			if err != nil || p.UserID != bob || p.DisplayName != name || p.AvatarURL != avatar {
				t.Errorf("our Profile(%s): %+v, %v; want %q, %q", bob, p, err, name, avatar)
			}
			id := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "from " + name})
			if hm := r.ourHookMessage(t, id); hm.SenderName != name {
				t.Errorf("OnMessage SenderName %q, want %q", hm.SenderName, name)
			}
			if got := r.ourMessage(t, id, "the message", func(homeserver.Message) bool { return true }); got.SenderName != name {
				t.Errorf("Message() SenderName %q, want %q", got.SenderName, name)
			}

			// A Dendrite user sharing no room with us: /query/profile.
			carl := r.d.register(t, "carl", false)
			carlName := "Carl " + randomString(5)
			if err := carl.setDisplayName(carlName); err != nil {
				t.Fatalf("Dendrite PUT displayname of carl: %v", err)
			}
			if p, err := r.o.srv.Profile(ctx(t), carl.UserID); err != nil || p.DisplayName != carlName {
				t.Errorf("our Profile(%s), a user in no shared room: %+v, %v; want %q", carl.UserID, p, err, carlName)
			}
			if !r.p.saw("GET", "/_matrix/federation/v1/query/profile", 200) {
				t.Errorf("the proxy saw no GET /query/profile to Dendrite answered 200")
			}
		})
	})
}

// TestPeer02_Presence: presence both ways. Ours to Dendrite: SetPresence
// online (with a status message), unavailable and offline each reach
// Dendrite's /sync as m.presence from our user. Dendrite to ours: bob is
// online through his /sync alone (OnPresence, Server.Presence); his PUT
// /presence online with a status message and, with his /sync paused
// (every /sync marks him online again), unavailable and offline reach
// OnPresence and Server.Presence.
// https://spec.matrix.org/v1.16/server-server-api/#presence
func TestPeer02_Presence(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		alice, bob := r.o.userID(r.local), r.remote.UserID
		t.Run("OursToDendrite", func(t *testing.T) {
			steps := []struct {
				name, presence, status string
			}{
				{"online", "online", "hacking " + randomString(4)},
				{"unavailable", "unavailable", "lunch " + randomString(4)},
				{"offline", "offline", "gone " + randomString(4)},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					if err := r.o.srv.SetPresence(ctx(t), r.local, s.presence, s.status); err != nil {
						t.Fatalf("our SetPresence(%s, %q): %v", s.presence, s.status, err)
					}
					got, ok := r.remote.waitPresence(alice, func(c presenceContent) bool {
						return c.Presence == s.presence && c.StatusMsg == s.status
					})
					if !ok {
						t.Fatalf("Dendrite's /sync did not show %s %s %q within %s; it showed %v", alice, s.presence, s.status, waitTimeout, r.remote.presenceSeen(alice))
					}
					if s.presence == "online" && !got.CurrentlyActive {
						t.Errorf("Dendrite shows %s online but not currently_active: %+v", alice, got)
					}
				})
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			wait := func(t *testing.T, presence, status string) {
				t.Helper()
				p, ok := r.o.presence.wait(waitTimeout, func(p homeserver.Presence) bool {
					return p.UserID == bob && p.Presence == presence && (status == "*" || p.StatusMsg == status)
				})
				if !ok {
					var seen []homeserver.Presence
					for _, p := range r.o.presence.all() {
						seen = append(seen, p.V)
					}
					t.Fatalf("our OnPresence did not report %s %s %q within %s; it reported %+v", bob, presence, status, waitTimeout, seen)
				}
				if p.V.Expired {
					t.Errorf("OnPresence %+v is marked Expired, but Dendrite said it", p.V)
				}
				cur, err := r.o.srv.Presence(ctx(t), bob)
				if err != nil || cur.Presence != presence || (status != "*" && cur.StatusMsg != status) {
					t.Errorf("our Presence(%s): %+v, %v; want %s %q", bob, cur, err, presence, status)
				}
			}
			t.Run("OnlineBySync", func(t *testing.T) { wait(t, "online", "*") })
			status := "busy " + randomString(4)
			t.Run("Online", func(t *testing.T) {
				if err := r.remote.setPresence("online", status); err != nil {
					t.Fatalf("Dendrite PUT /presence online: %v", err)
				}
				wait(t, "online", status)
			})
			r.remote.sync.pause()
			defer r.remote.sync.resume()
			for _, s := range []struct{ presence, status string }{
				{"unavailable", "away " + randomString(4)},
				{"offline", "gone " + randomString(4)},
			} {
				t.Run(s.presence, func(t *testing.T) {
					if err := r.remote.setPresence(s.presence, s.status); err != nil {
						t.Fatalf("Dendrite PUT /presence %s: %v", s.presence, err)
					}
					wait(t, s.presence, s.status)
				})
			}
		})
	})
}
