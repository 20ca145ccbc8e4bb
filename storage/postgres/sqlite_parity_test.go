package postgres

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/sqlite"
)

// TestSQLiteParity runs one scenario through every Store method on
// storage/sqlite and on this store, with strings a hostile peer could
// send (NUL, bytes that are not UTF-8, backslashes that bytea's text form
// would read as escapes, quotes, LIKE wildcards), and wants the same
// answers from both: same records, same order, same errors.
func TestSQLiteParity(t *testing.T) {
	t.Parallel()
	pg := openFresh(t)
	lite, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parity.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()

	want := paritySteps(t, lite)
	got := paritySteps(t, pg)
	if len(got) != len(want) {
		t.Errorf("transcripts differ in length: sqlite %d lines, postgres %d", len(want), len(got))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("first difference at line %d:\n sqlite   %s\n postgres %s", i, want[i], got[i])
		}
	}
}

// odd returns s with the bytes that text columns and text-format
// parameters get wrong.
func odd(s string) string { return s + "\x00\\x41\xff\xfe'\"%_é\x01" }

// oddID is odd without the bytes that are not UTF-8, for the event IDs
// that other events name as prev_events: storage/sqlite keeps those as a
// JSON array, and encoding/json replaces such bytes with U+FFFD (see
// TestPrevEventsKeepTheirBytes).
func oddID(s string) string { return s + "\x00\\x41'\"%_é\x01" }

// paritySteps runs the scenario on s and returns what every call answered,
// one line each, with stream positions and snapshot IDs replaced by their
// rank (the two stores number them differently, in the same order).
func paritySteps(t *testing.T, s storage.Store) []string {
	ctx := t.Context()
	var lines []string
	say := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	errText := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, storage.ErrNotFound):
			return "not found"
		}
		return "error"
	}
	pos := func(p int64) string { return fmt.Sprintf("\x02pos%d\x02", p) }
	snap := func(id int64) string {
		if id == 0 {
			return "snap0"
		}
		return fmt.Sprintf("\x02snap%d\x02", id)
	}
	ev := func(e storage.Event) string {
		sk := "<nil>"
		if e.StateKey != nil {
			sk = strconv.Quote(*e.StateKey)
		}
		return fmt.Sprintf("{%q %q %q sk=%s %q d=%d ts=%d prev=%q json=%q %s %q %d/%d %s by=%q}",
			e.EventID, e.RoomID, e.Type, sk, e.Sender, e.Depth, e.OriginServerTS, e.PrevEvents, e.JSON,
			e.Status, e.RejectReason, e.StateBefore, e.StateAfter, pos(e.StreamPos), e.RedactedBy)
	}
	evs := func(es []storage.Event) string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = ev(e)
		}
		return "[" + strings.Join(out, " ") + "]"
	}
	room := func(r storage.Room) string {
		return fmt.Sprintf("{%q %q %d %s}", r.RoomID, r.Version, r.CreatedTS, snap(r.CurrentSnapshot))
	}

	// Keys.
	k1, k2 := odd("ed25519:a"), odd("ed25519:b")
	say("AddSigningKey %s", errText(s.AddSigningKey(ctx, storage.SigningKey{KeyID: k1, Seed: []byte("s1\x00"), CreatedTS: 1})))
	say("AddSigningKey %s", errText(s.AddSigningKey(ctx, storage.SigningKey{KeyID: k2, Seed: []byte("s2"), CreatedTS: 2})))
	say("AddSigningKey dup %s", errText(s.AddSigningKey(ctx, storage.SigningKey{KeyID: k1, Seed: []byte("x")})))
	say("ExpireSigningKey %s", errText(s.ExpireSigningKey(ctx, k2, 5)))
	say("ExpireSigningKey prefix %s", errText(s.ExpireSigningKey(ctx, "ed25519:a", 5)))
	keys, err := s.SigningKeys(ctx)
	say("SigningKeys %+v %s", keys, errText(err))
	srv := odd("remote.example")
	say("StoreRemoteKeys %s", errText(s.StoreRemoteKeys(ctx, []storage.RemoteKey{
		{ServerName: srv, KeyID: odd("ed25519:z"), PublicKey: []byte("p"), ValidUntilTS: 9, Response: []byte(`{"a":"\u0000"}`)},
		{ServerName: srv, KeyID: "ed25519:z", PublicKey: []byte("q"), ValidUntilTS: 8, Response: []byte(`{}`)},
		{ServerName: "remote.example", KeyID: "ed25519:z", PublicKey: []byte("r"), ValidUntilTS: 7, Response: []byte(`{}`)},
	})))
	for _, name := range []string{srv, "remote.example", "remote.example\x00"} {
		rk, err := s.RemoteKeys(ctx, name)
		say("RemoteKeys %q %+v %s", name, rk, errText(err))
	}

	// Rooms and events.
	rid, rid2 := odd("!r:t"), "!r:t"
	_, err = s.WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: odd("10"), CreatedTS: 5}})
	say("WriteRoom room %s", errText(err))
	_, err = s.WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid2, Version: "10", CreatedTS: 5}})
	say("WriteRoom room2 %s", errText(err))
	// State keys that differ only from a NUL on, and one that is empty.
	skA, skB, skC, skEmpty := "a", "a\x00", "a\x00b", ""
	base := func(id, typ string, sk *string, prev ...string) storage.Event {
		return storage.Event{EventID: id, RoomID: rid, Type: typ, StateKey: sk, Sender: odd("@s:t"),
			Depth: int64(len(id)), OriginServerTS: 7, PrevEvents: prev, JSON: []byte(`{"id":"` + strconv.Quote(id) + `"}`),
			Status: storage.StatusAccepted, RejectReason: odd("why"), StateBefore: 3, StateAfter: 4}
	}
	e1 := base(oddID("$1"), odd("m.type"), &skA)
	e2 := base(oddID("$2"), odd("m.type"), &skB, e1.EventID)
	e3 := base(oddID("$3"), odd("m.type"), &skC, e2.EventID, "$missing\x00")
	e4 := base("$4", "m.type", &skEmpty, e3.EventID)
	e5 := base(odd("$5"), "m.room.message", nil, e3.EventID)
	e5.Status = storage.StatusParked
	p, err := s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{
		{Event: e1, SetState: true, Extremity: true, Destinations: []string{odd("d1"), "d1", odd("d1")}},
		{Event: e2, SetState: true, Extremity: true, Destinations: []string{"d1"}},
		{Event: e3, SetState: true, Extremity: true},
		{Event: e4, SetState: true, Extremity: true},
		{Event: e5, Extremity: true},
	}})
	say("WriteRoom events %s %s", errText(err), strings.Join(mapSlice(p, pos), " "))
	_, err = s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{Event: base("$x", "t", nil)}, {Event: storage.Event{EventID: "$y", RoomID: rid + "\x00"}}}})
	say("WriteRoom into a room that differs by a trailing NUL %s", errText(err))

	sn, err := s.WriteSnapshot(ctx, rid, 0, []storage.StateEntry{
		{Type: odd("m.type"), StateKey: skA, EventID: e1.EventID}, {Type: odd("m.type"), StateKey: skB, EventID: e2.EventID},
		{Type: odd("m.type"), StateKey: skC, EventID: e3.EventID}, {Type: "z", StateKey: odd(""), EventID: odd("$z")},
	})
	say("WriteSnapshot %s %s", snap(sn), errText(err))
	sn2, err := s.WriteSnapshot(ctx, rid, sn, []storage.StateEntry{{Type: odd("m.type"), StateKey: skB, EventID: ""}, {Type: "y", EventID: odd("$y")}})
	say("WriteSnapshot delta %s %s", snap(sn2), errText(err))
	for _, id := range []int64{sn, sn2} {
		st, err := s.Snapshot(ctx, id)
		say("Snapshot %s %q %s", snap(id), st, errText(err))
	}
	_, err = s.WriteRoom(ctx, storage.RoomWrite{
		Events:          []storage.EventUpdate{{Event: base(odd("$6"), "m.room.message", nil, e4.EventID), Extremity: true}},
		StateDelta:      []storage.StateEntry{{Type: odd("m.type"), StateKey: skB, EventID: ""}, {Type: odd("m.type"), StateKey: odd("new"), EventID: e5.EventID}},
		CurrentSnapshot: sn2,
	})
	say("WriteRoom delta %s", errText(err))
	// The parked event judged again: replaced, with a new position.
	e5.Status, e5.RejectReason = storage.StatusAccepted, ""
	p, err = s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{Event: e5, Extremity: true}}})
	say("WriteRoom re-judged %s %s", errText(err), strings.Join(mapSlice(p, pos), " "))

	for _, r := range []string{rid, rid2, rid + "\x00", "!r"} {
		rr, err := s.Room(ctx, r)
		say("Room %q %s %s", r, room(rr), errText(err))
	}
	rooms, err := s.Rooms(ctx)
	say("Rooms %s %s", strings.Join(mapSlice(rooms, room), " "), errText(err))
	for _, id := range []string{e1.EventID, e2.EventID, e5.EventID, "$1", oddID("$1") + "\x00"} {
		e, err := s.Event(ctx, id)
		say("Event %q %s %s", id, ev(e), errText(err))
	}
	got, err := s.Events(ctx, []string{e3.EventID, e1.EventID, "$1", e1.EventID, odd("$9"), odd("$5")})
	say("Events %s %s", evs(got), errText(err))
	got, err = s.RoomEvents(ctx, rid, 0, 100)
	say("RoomEvents %s %s", evs(got), errText(err))
	got, err = s.RoomEvents(ctx, rid+"\x00", 0, 100)
	say("RoomEvents NUL %s %s", evs(got), errText(err))
	got, err = s.CurrentState(ctx, rid)
	say("CurrentState %s %s", evs(got), errText(err))
	for _, sk := range []string{skA, skB, skC, skEmpty, odd("new"), "a\x00c"} {
		for _, typ := range []string{odd("m.type"), "m.type"} {
			e, err := s.StateEvent(ctx, rid, typ, sk)
			say("StateEvent %q %q %s %s", typ, sk, ev(e), errText(err))
		}
	}
	ext, err := s.ForwardExtremities(ctx, rid)
	say("ForwardExtremities %q %s", ext, errText(err))
	for _, id := range []string{e1.EventID, e3.EventID, "$missing\x00", "$missing"} {
		got, err := s.ChildEvents(ctx, id)
		say("ChildEvents %q %s %s", id, evs(got), errText(err))
	}

	// Relations and redactions.
	rel := func(e storage.Event, target, relType, key string) storage.EventUpdate {
		return storage.EventUpdate{Event: e, Extremity: true, Relation: &storage.Relation{
			TargetID: target, RelType: relType, Key: key, Sender: e.Sender, Type: e.Type, OriginServerTS: e.OriginServerTS}}
	}
	r1 := base(oddID("$r1"), odd("m.reaction"), nil, e4.EventID)
	r2 := base(oddID("$r2"), "m.reaction", nil, r1.EventID)
	r3 := base(oddID("$r3"), "m.room.message", nil, r2.EventID)
	r4 := base("$r4", "m.reaction", nil, r3.EventID)
	p, err = s.WriteRoom(ctx, storage.RoomWrite{
		Events: []storage.EventUpdate{
			rel(r1, e1.EventID, odd("m.annotation"), odd("👍")), rel(r2, e1.EventID, "m.annotation", "\x00"),
			rel(r3, e1.EventID+"\x00", odd("m.replace"), ""), rel(r4, e2.EventID, "m.annotation", "k\x00"),
		},
		Redactions: []storage.Redaction{
			{RedactionID: odd("$red"), RoomID: rid, TargetID: r2.EventID, Sender: odd("@m:t"), ByPower: true},
			{RedactionID: "$red", RoomID: rid, TargetID: e1.EventID, Sender: "@m:t"},
			{RedactionID: odd("$red"), RoomID: "x", TargetID: "y", Sender: "z", Applied: true},
		},
		Redact: []storage.RedactedEvent{{EventID: r2.EventID, JSON: []byte("{\x00}"), RedactedBy: odd("$red")}},
	})
	say("WriteRoom relations %s %s", errText(err), strings.Join(mapSlice(p, pos), " "))
	_, err = s.WriteRoom(ctx, storage.RoomWrite{Redact: []storage.RedactedEvent{{EventID: r1.EventID + "\x00", RedactedBy: "$red"}}})
	say("WriteRoom redact a missing event %s", errText(err))
	for _, c := range []struct {
		targets []string
		relType string
	}{
		{[]string{e1.EventID}, ""}, {[]string{e1.EventID, e1.EventID + "\x00", e2.EventID}, ""},
		{[]string{e1.EventID, e2.EventID}, "m.annotation"}, {[]string{e1.EventID}, odd("m.annotation")},
		{[]string{oddID("$1")[:3]}, ""}, {nil, ""},
	} {
		rels, err := s.Relations(ctx, c.targets, c.relType)
		say("Relations %q %q %s %s", c.targets, c.relType, strings.Join(mapSlice(rels, func(r storage.Relation) string {
			return fmt.Sprintf("{%q %q %q %q %q %q %q %d %s}", r.EventID, r.RoomID, r.TargetID, r.RelType, r.Key,
				r.Sender, r.Type, r.OriginServerTS, pos(r.StreamPos))
		}), " "), errText(err))
	}
	reds, err := s.RedactionsFor(ctx, []string{e1.EventID, r2.EventID, "y", r2.EventID + "\x00"})
	say("RedactionsFor %+v %s", reds, errText(err))
	got, err = s.Events(ctx, []string{r1.EventID, r2.EventID})
	say("Events redacted %s %s", evs(got), errText(err))

	// Invites.
	for i, u := range []string{odd("@u:t"), "@u:t", odd("@u:t") + "\x00"} {
		say("PutInvite %s", errText(s.PutInvite(ctx, storage.Invite{RoomID: rid, UserID: u, Inviter: odd("@i:t"),
			Direction: odd(storage.InviteInbound), EventID: odd("$inv"), RoomVersion: odd("10"), EventJSON: []byte("{\x00}"),
			RoomState: []byte("[]"), State: odd(storage.InvitePending), CreatedTS: 5, UpdatedTS: int64(i)})))
	}
	say("SetInviteState %s", errText(s.SetInviteState(ctx, rid, "@u:t", odd("accepted"), 9)))
	say("SetInviteState missing %s", errText(s.SetInviteState(ctx, rid, "@u:t\x00", "x", 9)))
	inv, err := s.Invite(ctx, rid, odd("@u:t"))
	say("Invite %+v %s", inv, errText(err))
	invs, err := s.Invites(ctx, "@u:t")
	say("Invites %+v %s", invs, errText(err))
	invs, err = s.RoomInvites(ctx, rid)
	say("RoomInvites %+v %s", invs, errText(err))

	// Queue.
	say("EnqueueEDU %s", errText(s.EnqueueEDU(ctx, odd("d1"), []byte("{\x00}"))))
	say("EnqueueEDU %s", errText(s.EnqueueEDU(ctx, odd("d2"), []byte("{}"))))
	dests, err := s.PendingDestinations(ctx)
	say("PendingDestinations %q %s", dests, errText(err))
	for _, d := range dests {
		txn, err := s.NextTransaction(ctx, d, 10, 10)
		say("NextTransaction %q %q %q %q %s", d, txn.Destination, txn.PDUs, txn.EDUs, errText(err))
		again, err := s.NextTransaction(ctx, d, 10, 10)
		say("NextTransaction again same ID %v %s", again.TxnID == txn.TxnID && txn.TxnID != "", errText(err))
		say("CompleteTransaction other %s", errText(s.CompleteTransaction(ctx, d+"\x00", txn.TxnID)))
		say("CompleteTransaction %s", errText(s.CompleteTransaction(ctx, d, txn.TxnID)))
	}
	dests, err = s.PendingDestinations(ctx)
	say("PendingDestinations after %q %s", dests, errText(err))

	// Receipts and inbound transactions.
	for i, u := range []string{odd("@b:t"), "@b:t", odd("@a:t"), "@b:t\x00"} {
		say("PutReceipt %s", errText(s.PutReceipt(ctx, storage.Receipt{RoomID: rid, UserID: u, Type: odd("m.read"), EventID: e1.EventID, TS: int64(10 - i%2)})))
	}
	rs, err := s.Receipts(ctx, rid, "")
	say("Receipts %s %s", receipts(rs), errText(err))
	rs, err = s.Receipts(ctx, rid, e1.EventID)
	say("Receipts of e1 %s %s", receipts(rs), errText(err))
	say("SaveInboundTransaction %s", errText(s.SaveInboundTransaction(ctx, odd("o"), odd("t"), []byte("{\x00}"))))
	resp, err := s.InboundTransaction(ctx, odd("o"), odd("t"))
	say("InboundTransaction %q %s", resp, errText(err))
	resp, err = s.InboundTransaction(ctx, odd("o"), "t")
	say("InboundTransaction other %q %s", resp, errText(err))

	prof := storage.Profile{UserID: odd("@p"), DisplayName: odd("name"), AvatarURL: odd("mxc"), TS: 9}
	say("SetLocalProfile %s", errText(s.SetLocalProfile(ctx, prof)))
	say("CacheRemoteProfile %s", errText(s.CacheRemoteProfile(ctx, storage.Profile{UserID: odd("@p"), DisplayName: odd("remote"), TS: 10})))
	lp, err := s.LocalProfile(ctx, odd("@p"))
	say("LocalProfile %q %s, whole: %v", fmt.Sprintf("%+v", lp), errText(err), lp == prof)
	rp, err := s.RemoteProfile(ctx, odd("@p"))
	say("RemoteProfile %q %s", fmt.Sprintf("%+v", rp), errText(err))
	_, err = s.LocalProfile(ctx, oddID("@p"))
	say("LocalProfile of a near-twin %s", errText(err))

	return renumber(lines)
}

// renumber replaces the \x02pos<n>\x02 and \x02snap<n>\x02 markers in
// lines by the rank of n among the markers of that kind.
func renumber(lines []string) []string {
	re := regexp.MustCompile("\x02(pos|snap)(-?[0-9]+)\x02")
	seen := map[string][]int64{}
	for _, l := range lines {
		for _, m := range re.FindAllStringSubmatch(l, -1) {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			seen[m[1]] = append(seen[m[1]], n)
		}
	}
	for k := range seen {
		slices.Sort(seen[k])
		seen[k] = slices.Compact(seen[k])
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = re.ReplaceAllStringFunc(l, func(s string) string {
			m := re.FindStringSubmatch(s)
			n, _ := strconv.ParseInt(m[2], 10, 64)
			if n == 0 {
				return m[1] + "0"
			}
			r, _ := slices.BinarySearch(seen[m[1]], n)
			return fmt.Sprintf("%s#%d", m[1], r)
		})
	}
	return out
}

// receipts formats rs with every string quoted.
func receipts(rs []storage.Receipt) string {
	return strings.Join(mapSlice(rs, func(r storage.Receipt) string {
		return fmt.Sprintf("{%q %q %q %q %d}", r.RoomID, r.UserID, r.Type, r.EventID, r.TS)
	}), " ")
}

func mapSlice[T any](s []T, f func(T) string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// TestPrevEventsKeepTheirBytes checks that an event's prev_events come back
// byte for byte, even when they are not UTF-8. Here storage/sqlite differs:
// it keeps prev_events as a JSON array, and encoding/json turns such bytes
// into U+FFFD, so its Event.PrevEvents no longer names the stored parent
// (its ChildEvents, kept in a table of its own, still finds the child).
func TestPrevEventsKeepTheirBytes(t *testing.T) {
	t.Parallel()
	s := openFresh(t)
	ctx := t.Context()
	parent, child := "$p\xff\x00", "$c\xfe"
	_, err := s.WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: "!r:t", Version: "10"}, Events: []storage.EventUpdate{
		{Event: storage.Event{EventID: parent, RoomID: "!r:t", Type: "m.room.message", JSON: []byte("{}")}, Extremity: true},
		{Event: storage.Event{EventID: child, RoomID: "!r:t", Type: "m.room.message", JSON: []byte("{}"), PrevEvents: []string{parent}}, Extremity: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Event(ctx, child)
	if err != nil || !slices.Equal(e.PrevEvents, []string{parent}) {
		t.Fatalf("PrevEvents = %q, %v; want %q", e.PrevEvents, err, parent)
	}
	kids, err := s.ChildEvents(ctx, parent)
	if err != nil || len(kids) != 1 || kids[0].EventID != child {
		t.Fatalf("ChildEvents = %v, %v", kids, err)
	}
	ext, err := s.ForwardExtremities(ctx, "!r:t")
	if err != nil || !slices.Equal(ext, []string{child}) {
		t.Fatalf("ForwardExtremities = %q, %v; want only the child", ext, err)
	}
}
