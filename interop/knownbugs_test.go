package interop

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// The TestKnownBug_* tests pin behaviours found by the scenarios that are
// wrong on one side or the other. They fail until the bug is fixed, so
// they are skipped unless INTEROP_KNOWN_BUGS=1.
func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("INTEROP_KNOWN_BUGS") != "1" {
		t.Skip("known bug: " + what + "; set INTEROP_KNOWN_BUGS=1 to run")
	}
}

// TestKnownBug_RevokeInviteStateLags: after RevokeInvite returns, the
// invite it revoked must read as revoked (RoomInvites, Room's
// Member.InviteState), as AcceptInvite's and RejectInvite's do (they move
// the invite before returning). RevokeInvite moves it only later, on the
// hook goroutine (notify.go onAccepted -> onMembershipForInvites), so a
// host that refreshes its list right after the call still sees "pending".
// Skipped unless INTEROP_KNOWN_BUGS=1.
func TestKnownBug_RevokeInviteStateLags(t *testing.T) {
	knownBug(t, "RoomInvites and Room() still show a revoked invite as pending right after RevokeInvite returns (the state moves later, on the hook goroutine)")
	e := newEnv(t)
	bob := e.d.register(t, "bob", false)
	r := e.ourChannel(t, "10", false)
	r.remote = bob
	r.inviteRemote(t, bob, nil)
	c := ctx(t)
	if err := e.o.srv.RevokeInvite(c, r.id, "alice", bob.UserID); err != nil {
		t.Fatalf("RevokeInvite: %v", err)
	}
	invs, err := e.o.srv.RoomInvites(c, r.id)
	if err != nil || len(invs) != 1 || invs[0].State != "revoked" {
		t.Errorf("RoomInvites right after RevokeInvite returned: %+v, %v; want the invite revoked", invs, err)
	}
	sum, err := e.o.srv.Room(c, r.id)
	if err != nil {
		t.Fatalf("Room: %v", err)
	}
	for _, m := range sum.Members {
		if m.UserID == bob.UserID && m.InviteState != "revoked" {
			t.Errorf("Room() right after RevokeInvite returned shows %s's invite %q, want revoked", bob.UserID, m.InviteState)
		}
	}
}

// TestKnownBug_PhantomInviteWhileBanned: a Dendrite admin bans our carol,
// then tries to invite her again. Dendrite v0.15.2 sends the invite to our
// server for co-signing (PUT /_matrix/federation/v2/invite) before it
// checks the auth rules; then its own check rejects the invite ("target
// cannot be invited when their membership is ban"), its client gets 403,
// and nothing ever withdraws what our server was sent. The invite's
// prev_event is the ban itself, but its auth_events leave out the target's
// current m.room.member event (the ban), which the spec's auth events
// selection asks for. Our server co-signs it, stores it as a pending
// invite and fires OnInvite, though it holds the ban and the invite's
// prev_event: by the auth rules on the state before the event (server-
// server API, "Checks performed on receipt of a PDU"; m.room.member,
// membership invite: "If target user's current membership state is join
// or ban, reject") it cannot pass, and PUT /v2/invite lets the invited
// server refuse with 403. The host shows an invite that can never be
// accepted. Dendrite is wrong on both counts (auth after co-signing, auth
// events without the target's membership); we could still refuse an
// invite that fails auth on the state before it when we hold its
// prev_events.
func TestKnownBug_PhantomInviteWhileBanned(t *testing.T) {
	knownBug(t, "a banned user's invite that Dendrite rejects itself still reaches our host as a pending invite (Dendrite asks for the co-signature before checking auth; we co-sign an invite whose auth_events hold the ban)")
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			e := newEnv(t)
			d, o := e.d, e.o
			dave := d.register(t, "dave", true)
			carol := o.userID("carol")
			c := ctx(t)
			roomID, err := dave.createRoom(map[string]any{"preset": "public_chat", "name": "public " + randomString(4), "room_version": v})
			if err != nil {
				t.Fatalf("Dendrite createRoom: %v", err)
			}
			if err := o.srv.JoinRoom(c, roomID, "carol", []string{d.name}); err != nil {
				t.Fatalf("our JoinRoom: %v", err)
			}
			if err := dave.membershipCall("ban", roomID, carol, "phantom test"); err != nil {
				t.Fatalf("Dendrite POST /ban: %v", err)
			}
			ban, ok := o.waitMembership(roomID, carol, "ban")
			if !ok {
				t.Fatalf("our host did not see the ban")
			}
			err = dave.invite(roomID, carol)
			t.Logf("Dendrite's POST /invite of the banned %s: %v", carol, err)
			time.Sleep(300 * time.Millisecond)
			for _, inv := range o.invites.all() {
				if inv.V.RoomID == roomID {
					t.Errorf("our OnInvite reported an invite of the banned %s: %+v", carol, inv.V)
				}
			}
			rec, err := o.store.Invite(c, roomID, carol)
			if err == nil {
				var ev struct {
					AuthEvents []string `json:"auth_events"`
					PrevEvents []string `json:"prev_events"`
				}
				_ = json.Unmarshal(rec.EventJSON, &ev)
				var kinds []string
				for _, id := range ev.AuthEvents {
					if a, err := o.store.Event(c, id); err == nil {
						sk := ""
						if a.StateKey != nil {
							sk = *a.StateKey
						}
						kinds = append(kinds, a.Type+"["+sk+"]")
					} else {
						kinds = append(kinds, id+" (unknown to us)")
					}
				}
				t.Logf("the invite our server co-signed (state %s): prev_events %v (the ban %s is one: %t); auth_events %v (the ban cited: %t)",
					rec.State, ev.PrevEvents, ban.V.EventID, slices.Contains(ev.PrevEvents, ban.V.EventID), kinds, slices.Contains(ev.AuthEvents, ban.V.EventID))
				if rec.State == "pending" {
					t.Errorf("our server holds a pending invite of the banned %s: %s", carol, rec.EventID)
				}
			}
		})
	}
}

// TestKnownBug_LeaveThenRejoinSplitsRoom: our carol leaves a Dendrite room
// and at once joins it again (Leave, then JoinRoom). Dendrite acknowledges
// the /send holding the leave before it processes it (PDUs go to its
// roomserver asynchronously), so its make_join template still builds on
// carol's old join. Our send_join is answered 200, but Dendrite does not
// put the join into the room: gomatrixserverlib.HandleSendJoin reports
// AlreadyJoined (carol's membership is still join there) and Dendrite's
// SendJoin (federationapi/routing/join.go) only inputs the event when it is
// not. Then the leave is processed. Dendrite ends with carol left, our
// server with carol joined (by a join Dendrite never took in): her
// messages are soft-failed there ("sender not in room") and Dendrite's
// never reach us. The spec has the resident server "accept [the join]
// into the room's graph" (PUT /_matrix/federation/v2/send_join); it makes
// no exception for a user it believes joined. Our side could avoid the
// race: a make_join template whose auth events show the joiner still
// joined, when we sent a later leave, is stale; wait and ask again.
func TestKnownBug_LeaveThenRejoinSplitsRoom(t *testing.T) {
	knownBug(t, "a leave at once followed by a rejoin leaves Dendrite with the user left and us with the user joined (Dendrite drops a send_join of a user it still sees joined, then applies the leave it acknowledged earlier)")
	e := newEnv(t)
	d, o := e.d, e.o
	dave := d.register(t, "dave", true)
	carol := o.userID("carol")
	c := ctx(t)
	roomID, err := dave.createRoom(map[string]any{"preset": "public_chat", "name": "public " + randomString(4), "room_version": "10"})
	if err != nil {
		t.Fatalf("Dendrite createRoom: %v", err)
	}
	r := &room{o: o, d: d, p: e.p, remote: dave, local: "carol", id: roomID}
	if err := o.srv.JoinRoom(c, roomID, "carol", []string{d.name}); err != nil {
		t.Fatalf("our JoinRoom: %v", err)
	}
	if _, ok := dave.waitTimeline(roomID, isMembership(carol, "join")); !ok {
		t.Fatalf("Dendrite did not see %s join", carol)
	}
	if err := o.srv.Leave(c, roomID, "carol"); err != nil {
		t.Fatalf("our Leave: %v", err)
	}
	if err := o.srv.JoinRoom(c, roomID, "carol", []string{d.name}); err != nil {
		t.Fatalf("our JoinRoom right after the leave: %v", err)
	}
	time.Sleep(time.Second)
	st, err := dave.state(roomID)
	if err != nil {
		t.Fatalf("Dendrite /state: %v", err)
	}
	ourMember, err := o.store.StateEvent(c, roomID, "m.room.member", carol)
	if err != nil {
		t.Fatalf("our member event of %s: %v", carol, err)
	}
	var ourContent struct {
		Content struct {
			Membership string `json:"membership"`
		} `json:"content"`
	}
	_ = json.Unmarshal(ourMember.JSON, &ourContent)
	if m, _ := findState(st, "m.room.member", carol); m.str("membership") != ourContent.Content.Membership {
		t.Errorf("after Leave and JoinRoom, Dendrite's /state has %s %q (%s); ours has %q (%s)", carol, m.str("membership"), m.EventID, ourContent.Content.Membership, ourMember.EventID)
	}
	r.messagesBothWays(t)
}

// TestKnownBug_TxnRetriedWithNewPDUsLosesThem: Dendrite v0.15.2 retries a
// failed /send under the same transaction ID, but builds the retry from
// what is queued by then (federationapi/queue/destinationqueue.go:
// createTransaction keeps oq.transactionID after a failure and refills the
// PDUs), so the retry can carry PDUs the first attempt did not. Our
// server remembers each (origin, txnID) and answers a repeat with the
// first answer without processing it (federation/send_routes.go), so the
// new PDUs are never processed, while Dendrite, seeing 200, drops them
// from its queue: the message is missing until a later event of the room,
// which cites it as a prev_event, makes us fetch it (get_missing_events);
// in a quiet room it stays missing. It happens when our server processes
// a transaction but Dendrite does not get the answer (here the test cuts
// the connection after our handler ran; in scenario 10 an abrupt
// http.Server.Close during a restart did it). The spec has the sender
// "retry" a transaction until it gets 200 before sending one with a
// different txnId (PUT /_matrix/federation/v1/send/{txnId}): a retry is
// the same transaction, so Dendrite is at fault; but PDUs are deduplicated
// by event ID anyway, so we could process the PDUs a repeat carries that
// the first answer does not list.
func TestKnownBug_TxnRetriedWithNewPDUsLosesThem(t *testing.T) {
	knownBug(t, "Dendrite retries a /send under the same txnId with PDUs added; we answer the repeat from the first answer and never process them (a message is missing until the next one)")
	marker := "processed, answer lost " + randomString(4)
	type seen struct {
		txn    string
		bodies []string
		answer string
		cut    bool
	}
	var mu sync.Mutex
	var seenTxns []seen
	cut := false
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			txn, ok := parseTxn(r.Method, r.URL.Path, body)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			s := seen{txn: txn.ID, answer: rec.Body.String()}
			for _, pdu := range txn.PDUs {
				if c, _ := pdu["content"].(map[string]any); c != nil {
					if b, _ := c["body"].(string); b != "" {
						s.bodies = append(s.bodies, b)
					}
				}
			}
			mu.Lock()
			if !cut && slices.Contains(s.bodies, marker) {
				cut, s.cut = true, true
			}
			seenTxns = append(seenTxns, s)
			mu.Unlock()
			if s.cut {
				// Processed, but the sender never gets the answer.
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
						return
					}
				}
				panic(http.ErrAbortHandler)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	}
	e := newEnv(t, withInboundWrap(wrap))
	bob := e.d.register(t, "bob", false)
	r := e.ourChannel(t, "10", false)
	r.remote = bob
	r.inviteRemote(t, bob, nil)
	r.remoteJoins(t, bob)

	if _, err := bob.sendText(r.id, marker); err != nil {
		t.Fatalf("Dendrite send: %v", err)
	}
	if _, ok := e.o.waitMessage(r.id, marker); !ok {
		t.Fatalf("our server did not process the first message")
	}
	next := "sent while Dendrite backs off " + randomString(4)
	if _, err := bob.sendText(r.id, next); err != nil {
		t.Fatalf("Dendrite send: %v", err)
	}
	_, ok := e.o.messages.wait(20*time.Second, func(m homeserver.Message) bool { return m.RoomID == r.id && m.Body == next })
	mu.Lock()
	for _, s := range seenTxns {
		t.Logf("Dendrite -> our server: PUT /send/%s with messages %q -> our answer %s (answer cut: %t)", s.txn, s.bodies, s.answer, s.cut)
	}
	mu.Unlock()
	if !ok {
		t.Errorf("%q never reached our host: Dendrite sent it in a retry of a transaction we had already answered", next)
		// Does the next message, whose prev_event is the lost one, bring
		// it back (our gap filling)?
		third := "after the lost one " + randomString(4)
		if _, err := bob.sendText(r.id, third); err != nil {
			t.Fatalf("Dendrite send: %v", err)
		}
		_, got3 := e.o.waitMessage(r.id, third)
		_, got2 := e.o.messages.wait(5*time.Second, func(m homeserver.Message) bool { return m.RoomID == r.id && m.Body == next })
		t.Logf("REPORT: after one more message from Dendrite: that one reached our host: %t; the lost one was recovered by gap filling: %t", got3, got2)
	}
}
