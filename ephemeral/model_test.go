package ephemeral

import (
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func TestReaders(t *testing.T) {
	// A line of history: $1 (depth 1) <- $2 <- $3, and $x, not stored here.
	depths := map[string]int64{"$1": 1, "$2": 2, "$3": 3}
	alice := read("!r", "@alice:a", "$1", 10)
	bob := read("!r", "@bob:b", "$2", 20)
	carol := read("!r", "@carol:b", "$3", 30)
	dave := read("!r", "@dave:b", "$x", 40)
	private := storage.Receipt{RoomID: "!r", UserID: "@eve:a", Type: "m.read.private", EventID: "$3", TS: 50}
	all := []storage.Receipt{alice, bob, carol, dave, private}
	cases := map[string]struct {
		event string
		want  []storage.Receipt
	}{
		"the first message: everyone past it":    {event: "$1", want: []storage.Receipt{alice, bob, carol}},
		"the middle one: on it or after":         {event: "$2", want: []storage.Receipt{bob, carol}},
		"the newest: only those on it":           {event: "$3", want: []storage.Receipt{carol}},
		"an unknown event: receipts on it":       {event: "$x", want: []storage.Receipt{dave}},
		"an event nobody has a receipt for":      {event: "$y", want: nil},
		"private receipts never count":           {event: "$3", want: []storage.Receipt{carol}},
		"receipts on unknown events are dropped": {event: "$2", want: []storage.Receipt{bob, carol}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, ok := depths[c.event]
			if !ok {
				d = 1 << 62
			}
			if got := Readers(c.event, d, all, depths); !slices.Equal(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}
