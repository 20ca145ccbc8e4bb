package interop

import (
	"errors"
	"slices"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// Deletions (redactions) and reactions against Dendrite, and a server
// that joins after a deletion. See rich_test.go for the set-up.

// redactedOnDendrite waits until Dendrite's /rooms/{id}/event/{id} shows
// eventID redacted by redactionID: no body left, the redaction in
// unsigned.redacted_because. /messages must show it redacted too.
func (r *room) redactedOnDendrite(t *testing.T, eventID, redactionID string) {
	t.Helper()
	e, err, ok := eventuallyDendrite(func() (fullEvent, error) { return r.remote.getEvent(r.id, eventID) },
		func(e fullEvent) bool { return e.redactedBecause() != "" })
	if !ok {
		t.Errorf("Dendrite's /event/%s never showed it redacted within %s: %v (unsigned %s), %v", eventID, waitTimeout, e.event, e.Unsigned, err)
		return
	}
	if got := e.redactedBecause(); got != redactionID {
		t.Errorf("Dendrite's /event/%s: unsigned.redacted_because is %s, want %s", eventID, got, redactionID)
	}
	if c := contentMap(e.Content); len(c) != 0 {
		t.Errorf("Dendrite's /event/%s still has content %s after the redaction", eventID, e.Content)
	}
	evs, err := r.remote.messagesFull(r.id, 100)
	if err != nil {
		t.Fatalf("Dendrite /messages: %v", err)
	}
	for _, m := range evs {
		if m.EventID == eventID && (m.str("body") != "" || m.redactedBecause() != redactionID) {
			t.Errorf("Dendrite's /messages shows %s as %s (unsigned %s); want it redacted by %s", eventID, m.Content, m.Unsigned, redactionID)
		}
	}
}

// deletedHere waits until our Message shows eventID deleted, with no
// body, no HTML and no reactions left.
func (r *room) deletedHere(t *testing.T, eventID string) {
	t.Helper()
	m := r.ourMessage(t, eventID, "it deleted", func(m homeserver.Message) bool { return m.Deleted })
	if m.Body != "" || m.FormattedBody != "" || len(m.Reactions) != 0 {
		t.Errorf("our Message(%s) is Deleted but keeps Body %q FormattedBody %q Reactions %v", eventID, m.Body, m.FormattedBody, m.Reactions)
	}
	msgs, err := r.o.srv.Messages(ctx(t), r.id, 0, 200)
	if err != nil {
		t.Fatalf("our Messages: %v", err)
	}
	for _, m := range msgs {
		if m.EventID == eventID && (!m.Deleted || m.Body != "") {
			t.Errorf("our Messages() shows %s as %+v; want it deleted with no body", eventID, m)
		}
	}
}

// waitRedactionHook waits for our Hooks.OnRedaction of redactionID.
func (r *room) waitRedactionHook(t *testing.T, redactionID string) homeserver.Redaction {
	t.Helper()
	x, ok := r.o.redactions.wait(waitTimeout, func(x homeserver.Redaction) bool { return x.EventID == redactionID })
	if !ok {
		t.Fatalf("our Hooks.OnRedaction did not report %s within %s (saw %v)", redactionID, waitTimeout, r.o.redactions.all())
	}
	return x.V
}

// TestRich05_OwnDeletion: a user deletes their own message. Ours:
// Redact, then Dendrite's /event and /messages show the redacted form
// with unsigned.redacted_because, and our Message says Deleted. Dendrite's:
// bob's PUT /redact reaches OnRedaction (target, sender, reason) and our
// Message and Messages show the message deleted with no body.
func TestRich05_OwnDeletion(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, version string) {
		t.Run("OursToDendrite", func(t *testing.T) {
			id := r.send(t, homeserver.MessageContent{Body: "sent by mistake", FormattedBody: "<b>sent</b> by mistake"})
			r.seenByDendrite(t, id)
			rid, err := r.o.srv.Redact(ctx(t), r.id, r.local, id, "wrong room")
			if err != nil {
				t.Fatalf("our Redact of our own message: %v", err)
			}
			r.deletedHere(t, id)
			red := r.seenByDendrite(t, rid)
			if red.Type != "m.room.redaction" || red.Sender != r.o.userID(r.local) || red.str("reason") != "wrong room" {
				t.Errorf("Dendrite shows our redaction as %v", red)
			}
			r.redactedOnDendrite(t, id, rid)
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			id := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "regret this"})
			r.ourHookMessage(t, id)
			rid, err := r.remote.redact(r.id, id, "regret")
			if err != nil {
				t.Fatalf("Dendrite's redaction of bob's own message: %v", err)
			}
			x := r.waitRedactionHook(t, rid)
			want := homeserver.Redaction{RoomID: r.id, EventID: rid, Target: id, Sender: r.remote.UserID, Reason: "regret",
				TargetType: "m.room.message", TargetSender: r.remote.UserID, Timestamp: x.Timestamp}
			if x != want {
				t.Errorf("OnRedaction = %+v, want %+v", x, want)
			}
			r.deletedHere(t, id)
			r.redactedOnDendrite(t, id, rid)
		})
	})
}

// TestRich06_ModeratorDeletion: deleting another user's message. A
// Dendrite moderator (power 50, given by our SetRole; not a creator:
// Dendrite v0.15.2 does not apply a v12 creator's redaction of another
// server's user, TestRich10) deletes our
// alice's message: our Message says Deleted with no body, OnRedaction
// names the moderator, Dendrite shows it redacted. Our moderator frank
// (power 50) deletes bob's message: both sides show it redacted. Our
// alice, the room's creator, deletes bob's message: our side applies it,
// and so does Dendrite in v10; in v12 Dendrite's behaviour is reported.
func TestRich06_ModeratorDeletion(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, version string) {
		bob, alice := r.remote, r.o.userID(r.local)
		t.Run("DendriteModeratorDeletesOurs", func(t *testing.T) {
			target := r.send(t, homeserver.MessageContent{Body: "a rule-breaking message"})
			r.seenByDendrite(t, target)
			if _, err := bob.redact(r.id, target, "not yet a moderator"); err == nil {
				t.Errorf("Dendrite let %s (power 0) redact our user's message", bob.UserID)
			}
			r.promote(t, bob.UserID)
			rid, err := bob.redact(r.id, target, "moderated")
			if err != nil {
				t.Fatalf("Dendrite moderator's redaction of our message: %v", err)
			}
			x := r.waitRedactionHook(t, rid)
			if x.Target != target || x.Sender != bob.UserID || x.Reason != "moderated" || x.TargetSender != alice {
				t.Errorf("OnRedaction = %+v; want Target %s by %s, reason moderated, TargetSender %s", x, target, bob.UserID, alice)
			}
			r.deletedHere(t, target)
			r.redactedOnDendrite(t, target, rid)
		})
		t.Run("OurModeratorDeletesDendrites", func(t *testing.T) {
			f := r.member(t, "frank")
			target := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "bob misbehaves"})
			r.ourHookMessage(t, target)
			if _, err := f.o.srv.Redact(ctx(t), r.id, f.local, target, "no power"); !errors.Is(err, homeserver.ErrForbidden) {
				t.Errorf("our Redact of Dendrite's message by %s at power 0: %v, want ErrForbidden", f.local, err)
			}
			r.promote(t, f.o.userID(f.local))
			rid, err := f.o.srv.Redact(ctx(t), r.id, f.local, target, "moderated here")
			if err != nil {
				t.Fatalf("our moderator's Redact of Dendrite's message: %v", err)
			}
			f.deletedHere(t, target)
			red := f.seenByDendrite(t, rid)
			if red.Sender != f.o.userID(f.local) || red.str("reason") != "moderated here" {
				t.Errorf("Dendrite shows our moderator's redaction as %v", red)
			}
			f.redactedOnDendrite(t, target, rid)
		})
		t.Run("OurCreatorDeletesDendrites", func(t *testing.T) {
			target := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "bob says something"})
			r.ourHookMessage(t, target)
			rid, err := r.o.srv.Redact(ctx(t), r.id, creator, target, "off topic")
			if err != nil {
				t.Fatalf("our creator's Redact of Dendrite's message: %v", err)
			}
			r.deletedHere(t, target)
			if version != "12" {
				r.seenByDendrite(t, rid)
				r.redactedOnDendrite(t, target, rid)
				return
			}
			// A v12 creator (no power-levels entry, MSC4289) redacting
			// another server's user: Dendrite's power check does not let
			// it through (TestRich10).
			r.reportNotApplied(t, "a v12 creator's redaction of another server's user: Dendrite's power check does not know creators", target, rid)
		})
	})
}

// ourRedactionOnDendrite checks that our redaction rid is in Dendrite's
// /sync and applied to target. In room versions 11 and up this needs the
// target at the top level besides content.redacts: Dendrite v0.15.2 reads
// only the top-level key (see rooms/build.go).
func (r *room) ourRedactionOnDendrite(t *testing.T, target, rid string) {
	t.Helper()
	r.seenByDendrite(t, rid)
	r.redactedOnDendrite(t, target, rid)
}

// promote has our creator make userID a moderator (power 50) and waits
// until Dendrite's /sync shows it.
func (r *room) promote(t *testing.T, userID string) {
	t.Helper()
	if err := r.o.srv.SetRole(ctx(t), r.id, creator, userID, "moderator"); err != nil {
		t.Fatalf("our SetRole(%s, moderator): %v", userID, err)
	}
	if _, ok := r.remote.waitTimeline(r.id, func(e event) bool {
		return e.Type == "m.room.power_levels" && usersLevels(e.Content)[userID] == 50
	}); !ok {
		t.Fatalf("Dendrite's /sync showed no power levels with %s at 50 within %s", userID, waitTimeout)
	}
}

// reportNotApplied reports whether Dendrite applies a redaction rid of
// target that it is known not to apply (why is the caller's to say); it
// waits 5 s, not the full waitTimeout, and asserts nothing of Dendrite.
func (r *room) reportNotApplied(t *testing.T, why, target, rid string) {
	t.Helper()
	_, shown := r.remote.sync.feed.wait(5*time.Second, func(it syncItem) bool { return it.RoomID == r.id && it.Event.EventID == rid })
	var e fullEvent
	var err error
	applied := waitShort(time.Second, func() bool {
		e, err = r.remote.getEvent(r.id, target)
		return err == nil && e.redactedBecause() != ""
	})
	if applied {
		t.Logf("Dendrite applied the redaction %s after all (%s: no longer the known Dendrite v0.15.2 behaviour)", rid, why)
		r.redactedOnDendrite(t, target, rid)
		return
	}
	t.Logf("REPORT: Dendrite v0.15.2 does not apply the redaction %s (%s; in its /sync: %t); /event/%s still shows %s", rid, why, shown, target, e.Content)
}

// reactionsOnDendrite lists the m.annotation relations of eventID on
// Dendrite as key -> reaction event IDs.
func (r *room) reactionsOnDendrite(eventID string) (map[string][]string, error) {
	evs, err := r.remote.relations(r.id, eventID, "m.annotation")
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, e := range evs {
		k := pathStr(contentMap(e.Content), "m.relates_to", "key")
		out[k] = append(out[k], e.EventID)
	}
	return out, nil
}

// TestRich07_Reactions: a reaction added, then removed, both ways. Ours:
// React (a second identical one is ErrDuplicateAnnotation), Dendrite's
// /relations/{id}/m.annotation lists it, Unreact removes it there and
// redacts it. Dendrite's: OnReaction, our Message.Reactions counts it
// (with our own same-key reaction: count 2, in order), bob's redaction of
// it reaches OnReaction as Removed and drops it from the count.
func TestRich07_Reactions(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, version string) {
		alice, bob := r.o.userID(r.local), r.remote.UserID
		t.Run("OursToDendrite", func(t *testing.T) {
			target := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "react to me"})
			r.ourHookMessage(t, target)
			rid, err := r.o.srv.React(ctx(t), r.id, r.local, target, "👍")
			if err != nil {
				t.Fatalf("our React: %v", err)
			}
			e := r.seenByDendrite(t, rid)
			if c := contentMap(e.Content); e.Type != "m.reaction" || pathStr(c, "m.relates_to", "rel_type") != "m.annotation" ||
				pathStr(c, "m.relates_to", "event_id") != target || pathStr(c, "m.relates_to", "key") != "👍" {
				t.Errorf("Dendrite shows our reaction as %v", e)
			}
			got, err, ok := eventuallyDendrite(func() (map[string][]string, error) { return r.reactionsOnDendrite(target) },
				func(m map[string][]string) bool { return slices.Contains(m["👍"], rid) })
			if !ok {
				t.Errorf("Dendrite's /relations/%s/m.annotation never listed %s: %v, %v", target, rid, got, err)
			}
			if _, err := r.o.srv.React(ctx(t), r.id, r.local, target, "👍"); !errors.Is(err, homeserver.ErrDuplicateAnnotation) {
				t.Errorf("a second identical React: %v, want ErrDuplicateAnnotation", err)
			}
			m := r.ourMessage(t, target, "our reaction", func(m homeserver.Message) bool { return len(m.Reactions) > 0 })
			if want := []homeserver.ReactionCount{{Key: "👍", Count: 1, Users: []string{alice}}}; !reactionsEqual(m.Reactions, want) {
				t.Errorf("our Message.Reactions = %+v, want %+v", m.Reactions, want)
			}
			if err := r.o.srv.Unreact(ctx(t), r.id, r.local, target, "👍"); err != nil {
				t.Fatalf("our Unreact: %v", err)
			}
			r.ourMessage(t, target, "no reactions left", func(m homeserver.Message) bool { return len(m.Reactions) == 0 })
			got, err, ok = eventuallyDendrite(func() (map[string][]string, error) { return r.reactionsOnDendrite(target) },
				func(m map[string][]string) bool { return len(m["👍"]) == 0 })
			if !ok {
				t.Errorf("Dendrite's /relations/%s/m.annotation still lists our removed reaction: %v, %v", target, got, err)
			}
			if e, err := r.remote.getEvent(r.id, rid); err != nil || e.redactedBecause() == "" {
				t.Errorf("Dendrite's /event of our removed reaction %s: %v (unsigned %s), %v; want it redacted", rid, e.event, e.Unsigned, err)
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			target := r.send(t, homeserver.MessageContent{Body: "react to us"})
			r.seenByDendrite(t, target)
			rid := r.remoteSend(t, "m.reaction", map[string]any{
				"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target, "key": "🎉"},
			})
			x, ok := r.o.reactions.wait(waitTimeout, func(x homeserver.Reaction) bool { return x.EventID == rid && !x.Removed })
			if !ok {
				t.Fatalf("our Hooks.OnReaction did not report Dendrite's reaction %s within %s", rid, waitTimeout)
			}
			if x.V.Target != target || x.V.Key != "🎉" || x.V.Sender != bob || x.V.RoomID != r.id {
				t.Errorf("OnReaction = %+v; want Target %s, key 🎉, from %s", x.V, target, bob)
			}
			r.ourMessage(t, target, "bob's reaction", func(m homeserver.Message) bool {
				return reactionsEqual(m.Reactions, []homeserver.ReactionCount{{Key: "🎉", Count: 1, Users: []string{bob}}})
			})
			ours, err := r.o.srv.React(ctx(t), r.id, r.local, target, "🎉")
			if err != nil {
				t.Fatalf("our React with the same key: %v", err)
			}
			r.ourMessage(t, target, "two 🎉 (bob, then alice)", func(m homeserver.Message) bool {
				return reactionsEqual(m.Reactions, []homeserver.ReactionCount{{Key: "🎉", Count: 2, Users: []string{bob, alice}}})
			})
			if got, err, ok := eventuallyDendrite(func() (map[string][]string, error) { return r.reactionsOnDendrite(target) },
				func(m map[string][]string) bool { return len(m["🎉"]) == 2 }); !ok {
				t.Errorf("Dendrite's /relations/%s/m.annotation: %v, %v; want bob's %s and our %s", target, got, err, rid, ours)
			}
			red, err := r.remote.redact(r.id, rid, "")
			if err != nil {
				t.Fatalf("Dendrite's redaction of bob's reaction: %v", err)
			}
			rm, ok := r.o.reactions.wait(waitTimeout, func(x homeserver.Reaction) bool { return x.EventID == rid && x.Removed })
			if !ok {
				t.Fatalf("our Hooks.OnReaction did not report the removal of %s within %s", rid, waitTimeout)
			}
			if rm.V.RemovedBy != red || rm.V.Key != "🎉" || rm.V.Target != target {
				t.Errorf("OnReaction (removed) = %+v; want RemovedBy %s, key 🎉, Target %s", rm.V, red, target)
			}
			r.ourMessage(t, target, "only alice's 🎉 left", func(m homeserver.Message) bool {
				return reactionsEqual(m.Reactions, []homeserver.ReactionCount{{Key: "🎉", Count: 1, Users: []string{alice}}})
			})
			r.noStrayMessage(t, rid, "reaction")
		})
	})
}

func reactionsEqual(a, b []homeserver.ReactionCount) bool {
	return slices.EqualFunc(a, b, func(x, y homeserver.ReactionCount) bool {
		return x.Key == y.Key && x.Count == y.Count && slices.Equal(x.Users, y.Users)
	})
}
