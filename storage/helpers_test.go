package storage

import (
	"slices"
	"testing"
)

func TestParseStatus(t *testing.T) {
	for _, st := range []EventStatus{StatusAccepted, StatusRejected, StatusSoftFailed, StatusParked} {
		got, err := ParseStatus(st.String())
		if err != nil || got != st {
			t.Fatalf("ParseStatus(%q) = %v, %v", st.String(), got, err)
		}
	}
	if _, err := ParseStatus("accepted "); err == nil {
		t.Fatal("an unknown status parsed")
	}
}

func TestApplyDelta(t *testing.T) {
	base := []StateEntry{{"m.room.member", "@b", "$b"}, {"m.room.create", "", "$c"}}
	got := ApplyDelta(base, []StateEntry{
		{"m.room.member", "@b", ""}, {"m.room.name", "", "$n1"}, {"m.room.name", "", "$n2"}, {"m.room.create", "", "$c2"},
	})
	want := []StateEntry{{"m.room.create", "", "$c2"}, {"m.room.name", "", "$n2"}}
	if !slices.Equal(got, want) {
		t.Fatalf("ApplyDelta = %v, want %v", got, want)
	}
	if len(base) != 2 || base[0].EventID != "$b" {
		t.Fatal("ApplyDelta changed its input")
	}
}

func TestValidateRoomWrite(t *testing.T) {
	ev := Event{EventID: "$e", RoomID: "!r", Status: StatusAccepted}
	withRel := func(r Relation) RoomWrite {
		return RoomWrite{Events: []EventUpdate{{Event: ev, Relation: &r}}}
	}
	for name, c := range map[string]struct {
		w  RoomWrite
		ok bool
	}{
		"empty write":                  {RoomWrite{}, true},
		"relation with IDs left empty": {withRel(Relation{TargetID: "$t", RelType: "m.annotation"}), true},
		"relation with matching IDs":   {withRel(Relation{EventID: "$e", RoomID: "!r", TargetID: "$t", RelType: "m.replace"}), true},
		"relation of another event":    {withRel(Relation{EventID: "$x", TargetID: "$t", RelType: "m.replace"}), false},
		"relation in another room":     {withRel(Relation{RoomID: "!x", TargetID: "$t", RelType: "m.replace"}), false},
		"relation without target":      {withRel(Relation{RelType: "m.replace"}), false},
		"relation without rel_type":    {withRel(Relation{TargetID: "$t"}), false},
		"redaction":                    {RoomWrite{Redactions: []Redaction{{RedactionID: "$r", TargetID: "$t"}}}, true},
		"redaction without ID":         {RoomWrite{Redactions: []Redaction{{TargetID: "$t"}}}, false},
		"redaction without target":     {RoomWrite{Redactions: []Redaction{{RedactionID: "$r"}}}, false},
		"redact":                       {RoomWrite{Redact: []RedactedEvent{{EventID: "$t", RedactedBy: "$r"}}}, true},
		"redact without event":         {RoomWrite{Redact: []RedactedEvent{{RedactedBy: "$r"}}}, false},
		"redact without redaction":     {RoomWrite{Redact: []RedactedEvent{{EventID: "$t"}}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := ValidateRoomWrite(c.w); (err == nil) != c.ok {
				t.Fatalf("ValidateRoomWrite = %v, want ok %v", err, c.ok)
			}
		})
	}
}

func TestIndexedRelation(t *testing.T) {
	rel := &Relation{TargetID: "$t", RelType: "m.annotation", Key: "👍", StreamPos: 9}
	accepted := Event{EventID: "$e", RoomID: "!r", Status: StatusAccepted}
	for name, c := range map[string]struct {
		u  EventUpdate
		ok bool
	}{
		"accepted":    {EventUpdate{Event: accepted, Relation: rel}, true},
		"no relation": {EventUpdate{Event: accepted}, false},
		"rejected":    {EventUpdate{Event: Event{EventID: "$e", Status: StatusRejected}, Relation: rel}, false},
		"soft-failed": {EventUpdate{Event: Event{EventID: "$e", Status: StatusSoftFailed}, Relation: rel}, false},
		"parked":      {EventUpdate{Event: Event{EventID: "$e", Status: StatusParked}, Relation: rel}, false},
		"redacted":    {EventUpdate{Event: Event{EventID: "$e", Status: StatusAccepted, RedactedBy: "$r"}, Relation: rel}, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := IndexedRelation(c.u)
			if ok != c.ok {
				t.Fatalf("IndexedRelation ok = %v, want %v", ok, c.ok)
			}
			want := Relation{EventID: "$e", RoomID: "!r", TargetID: "$t", RelType: "m.annotation", Key: "👍"}
			if ok && got != want {
				t.Fatalf("IndexedRelation = %+v, want %+v", got, want)
			}
		})
	}
}
