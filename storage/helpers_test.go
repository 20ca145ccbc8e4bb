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
