package federation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// directory returns n entries: room !rNN has n-NN members, so the
// directory's order is !r00, !r01, ...
func directory(n int) []PublicRoom {
	out := make([]PublicRoom, n)
	for i := range out {
		out[n-1-i] = PublicRoom{RoomID: fmt.Sprintf("!r%02d:t", i), NumJoinedMembers: n - i, Name: fmt.Sprintf("room %d", i)}
	}
	return out
}

func roomIDs(rs []PublicRoom) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = strings.TrimSuffix(strings.TrimPrefix(r.RoomID, "!"), ":t")
	}
	return out
}

func TestPageForwardAndBack(t *testing.T) {
	p := pager{secret: []byte("k")}
	all := directory(5)
	first, err := p.page(all, PublicRoomsRequest{Limit: 2})
	if err != nil || !slices.Equal(roomIDs(first.Chunk), []string{"r00", "r01"}) || first.PrevBatch != "" || first.NextBatch == "" {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	if first.TotalRoomCountEstimate != 5 {
		t.Fatalf("total_room_count_estimate: %d, want 5", first.TotalRoomCountEstimate)
	}
	second, err := p.page(all, PublicRoomsRequest{Limit: 2, Since: first.NextBatch})
	if err != nil || !slices.Equal(roomIDs(second.Chunk), []string{"r02", "r03"}) || second.PrevBatch == "" || second.NextBatch == "" {
		t.Fatalf("second page: %+v, %v", second, err)
	}
	last, err := p.page(all, PublicRoomsRequest{Limit: 2, Since: second.NextBatch})
	if err != nil || !slices.Equal(roomIDs(last.Chunk), []string{"r04"}) || last.NextBatch != "" || last.PrevBatch == "" {
		t.Fatalf("last page: %+v, %v", last, err)
	}
	back, err := p.page(all, PublicRoomsRequest{Limit: 2, Since: last.PrevBatch})
	if err != nil || !slices.Equal(roomIDs(back.Chunk), []string{"r02", "r03"}) {
		t.Fatalf("back from the last page: %+v, %v", back, err)
	}
	back, err = p.page(all, PublicRoomsRequest{Limit: 2, Since: back.PrevBatch})
	if err != nil || !slices.Equal(roomIDs(back.Chunk), []string{"r00", "r01"}) || back.PrevBatch != "" {
		t.Fatalf("back to the first page: %+v, %v", back, err)
	}
	// A room leaving the directory between pages moves nothing else.
	without := slices.DeleteFunc(slices.Clone(all), func(r PublicRoom) bool { return r.RoomID == "!r01:t" })
	next, err := p.page(without, PublicRoomsRequest{Limit: 2, Since: first.NextBatch})
	if err != nil || !slices.Equal(roomIDs(next.Chunk), []string{"r02", "r03"}) {
		t.Fatalf("second page after a room left: %+v, %v", next, err)
	}
}

func TestPageSearchAndLimit(t *testing.T) {
	p := pager{secret: []byte("k")}
	entries := []PublicRoom{
		{RoomID: "!a:t", Name: "Go Gophers", NumJoinedMembers: 1},
		{RoomID: "!b:t", Topic: "all about gophers", NumJoinedMembers: 3},
		{RoomID: "!c:t", CanonicalAlias: "#GOPHER:t", NumJoinedMembers: 2},
		{RoomID: "!d:t", Name: "cats", Topic: "no dogs", NumJoinedMembers: 9},
	}
	for name, tc := range map[string]struct {
		req  PublicRoomsRequest
		want []string
	}{
		"no term":                   {PublicRoomsRequest{}, []string{"!d:t", "!b:t", "!c:t", "!a:t"}},
		"name, topic and alias":     {PublicRoomsRequest{Search: "gopher"}, []string{"!b:t", "!c:t", "!a:t"}},
		"case-insensitive":          {PublicRoomsRequest{Search: "CaTs"}, []string{"!d:t"}},
		"nothing matches":           {PublicRoomsRequest{Search: "zebra"}, []string{}},
		"limit":                     {PublicRoomsRequest{Limit: 1}, []string{"!d:t"}},
		"limit over the cap":        {PublicRoomsRequest{Limit: 1000}, []string{"!d:t", "!b:t", "!c:t", "!a:t"}},
		"search and limit":          {PublicRoomsRequest{Search: "gopher", Limit: 2}, []string{"!b:t", "!c:t"}},
		"ties ordered by room ID":   {PublicRoomsRequest{Search: "o"}, []string{"!d:t", "!b:t", "!c:t", "!a:t"}},
		"limit 0 means the default": {PublicRoomsRequest{Limit: 0, Search: "dogs"}, []string{"!d:t"}},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := p.page(entries, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(res.Chunk))
			for i, r := range res.Chunk {
				got[i] = r.RoomID
			}
			if !slices.Equal(got, tc.want) || res.Chunk == nil {
				t.Fatalf("chunk %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPageRefusesTokensNeverIssued(t *testing.T) {
	p := pager{secret: []byte("k")}
	other := pager{secret: []byte("another server")}
	all := directory(3)
	issued, err := p.page(all, PublicRoomsRequest{Limit: 1})
	if err != nil || issued.NextBatch == "" {
		t.Fatalf("first page: %+v, %v", issued, err)
	}
	foreign, _ := other.page(all, PublicRoomsRequest{Limit: 1})
	body, sig, _ := strings.Cut(issued.NextBatch, ".")
	for name, tok := range map[string]string{
		"garbage":                 "not-a-token",
		"no signature":            body,
		"another server's token":  foreign.NextBatch,
		"signature of another":    body + "." + strings.Repeat("A", len(sig)),
		"not base64":              "!!!.???",
		"Synapse-style msgpack":   "g6FtAaFyp!r00:tqFkww",
		"payload swapped":         strings.Replace(issued.NextBatch, body, "eyJtIjowLCJyIjoiIiwiZCI6dHJ1ZX0", 1),
		"signed payload not JSON": other.token(pageKey{}) + "x",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := p.page(all, PublicRoomsRequest{Since: tok}); !errors.Is(err, ErrInvalidSince) {
				t.Fatalf("page with since %q: %v, want ErrInvalidSince", tok, err)
			}
		})
	}
}

func TestPublicRoomOf(t *testing.T) {
	for name, tc := range map[string]struct {
		contents map[string][]byte
		want     PublicRoom
	}{
		"every field": {map[string][]byte{
			"m.room.name":               []byte(`{"name":"General"}`),
			"m.room.topic":              []byte(`{"topic":"Talk"}`),
			"m.room.avatar":             []byte(`{"url":"mxc://t/abc"}`),
			"m.room.canonical_alias":    []byte(`{"alias":"#general:t"}`),
			"m.room.join_rules":         []byte(`{"join_rule":"public"}`),
			"m.room.history_visibility": []byte(`{"history_visibility":"world_readable"}`),
			"m.room.guest_access":       []byte(`{"guest_access":"can_join"}`),
			"m.room.create":             []byte(`{"type":"m.space"}`),
		}, PublicRoom{RoomID: "!r:t", NumJoinedMembers: 3, Name: "General", Topic: "Talk", AvatarURL: "mxc://t/abc",
			CanonicalAlias: "#general:t", JoinRule: "public", RoomType: "m.space", WorldReadable: true, GuestCanJoin: true}},
		"nothing": {nil, PublicRoom{RoomID: "!r:t", NumJoinedMembers: 3}},
		"hostile types": {map[string][]byte{
			"m.room.name":               []byte(`{"name":7}`),
			"m.room.topic":              []byte(`[1,2]`),
			"m.room.history_visibility": []byte(`{"history_visibility":true}`),
			"m.room.guest_access":       []byte(`not json`),
		}, PublicRoom{RoomID: "!r:t", NumJoinedMembers: 3}},
		"shared history is not world readable": {map[string][]byte{
			"m.room.history_visibility": []byte(`{"history_visibility":"shared"}`),
			"m.room.guest_access":       []byte(`{"guest_access":"forbidden"}`),
		}, PublicRoom{RoomID: "!r:t", NumJoinedMembers: 3}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := PublicRoomOf("!r:t", 3, tc.contents); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
