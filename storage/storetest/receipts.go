package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func rcpt(roomID, userID, eventID string, ts int64) storage.Receipt {
	return storage.Receipt{RoomID: roomID, UserID: userID, Type: "m.read", EventID: eventID, TS: ts}
}

func eqReceipts(t *testing.T, what string, got, want []storage.Receipt) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func receiptsOf(t *testing.T, s storage.Store, roomID, eventID string) []storage.Receipt {
	t.Helper()
	rs, err := s.Receipts(ctx(t), roomID, eventID)
	mustOK(t, fmt.Sprintf("Receipts(%s, %q)", roomID, eventID), err)
	return rs
}

func testReceipts(t *testing.T, open opener) {
	const (
		rid   = "!r:t"
		alice = "@alice:a.example"
		bob   = "@bob:b.example"
		carol = "@carol:b.example"
	)

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		eqReceipts(t, "receipts of an unknown event", receiptsOf(t, s, rid, "$nope"), nil)
		eqReceipts(t, "receipts of an unknown room", receiptsOf(t, s, rid, ""), nil)
	})

	t.Run("ByEventAndRoom", func(t *testing.T) {
		s := open(t)
		a := rcpt(rid, alice, "$e1", 300)
		b := rcpt(rid, bob, "$e1", 100)
		c := rcpt(rid, carol, "$e2", 200)
		d := rcpt(rid, "@dave:t", "$e1", 100) // same TS as bob: ordered by user
		other := rcpt("!other:t", alice, "$e1", 50)
		for _, r := range []storage.Receipt{a, b, c, d, other} {
			mustOK(t, "PutReceipt", s.PutReceipt(ctx(t), r))
		}
		eqReceipts(t, "receipts of $e1, by TS then user", receiptsOf(t, s, rid, "$e1"), []storage.Receipt{b, d, a})
		eqReceipts(t, "receipts of $e2", receiptsOf(t, s, rid, "$e2"), []storage.Receipt{c})
		eqReceipts(t, "every receipt of the room", receiptsOf(t, s, rid, ""), []storage.Receipt{b, d, c, a})
		eqReceipts(t, "receipts of another room", receiptsOf(t, s, "!other:t", ""), []storage.Receipt{other})
	})

	t.Run("NewestWins", func(t *testing.T) {
		cases := map[string]struct {
			first, second storage.Receipt
			want          storage.Receipt
		}{
			"newer replaces":         {first: rcpt(rid, bob, "$e1", 100), second: rcpt(rid, bob, "$e2", 200), want: rcpt(rid, bob, "$e2", 200)},
			"older is ignored":       {first: rcpt(rid, bob, "$e2", 200), second: rcpt(rid, bob, "$e1", 100), want: rcpt(rid, bob, "$e2", 200)},
			"equal TS: later writer": {first: rcpt(rid, bob, "$e1", 100), second: rcpt(rid, bob, "$e2", 100), want: rcpt(rid, bob, "$e2", 100)},
			"same event, newer TS":   {first: rcpt(rid, bob, "$e1", 100), second: rcpt(rid, bob, "$e1", 150), want: rcpt(rid, bob, "$e1", 150)},
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				s := open(t)
				mustOK(t, "PutReceipt first", s.PutReceipt(ctx(t), c.first))
				mustOK(t, "PutReceipt second", s.PutReceipt(ctx(t), c.second))
				eqReceipts(t, "the room's receipts", receiptsOf(t, s, rid, ""), []storage.Receipt{c.want})
				for _, ev := range []string{"$e1", "$e2"} {
					var want []storage.Receipt
					if ev == c.want.EventID {
						want = []storage.Receipt{c.want}
					}
					eqReceipts(t, "receipts of "+ev, receiptsOf(t, s, rid, ev), want)
				}
			})
		}
	})

	t.Run("KeyedByType", func(t *testing.T) {
		s := open(t)
		read := rcpt(rid, bob, "$e1", 100)
		other := rcpt(rid, bob, "$e2", 50)
		other.Type = "m.read.private"
		mustOK(t, "PutReceipt m.read", s.PutReceipt(ctx(t), read))
		mustOK(t, "PutReceipt other type", s.PutReceipt(ctx(t), other))
		eqReceipts(t, "both types kept", receiptsOf(t, s, rid, ""), []storage.Receipt{other, read})
	})

	t.Run("ConcurrentNewestWins", func(t *testing.T) {
		s := open(t)
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				errs <- s.PutReceipt(ctx(t), rcpt(rid, bob, fmt.Sprintf("$e%d", i), int64(1000+i)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			mustOK(t, "concurrent PutReceipt", err)
		}
		eqReceipts(t, "after concurrent writes", receiptsOf(t, s, rid, ""), []storage.Receipt{rcpt(rid, bob, fmt.Sprintf("$e%d", n-1), 1000+n-1)})
	})
}
