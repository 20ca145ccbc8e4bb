package ephemeral

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func TestDecodeEDU(t *testing.T) {
	cases := map[string]struct {
		raw     string
		ok      bool
		wantTyp string
	}{
		"receipt":            {raw: `{"edu_type":"m.receipt","content":{}}`, ok: true, wantTyp: TypeReceipt},
		"unknown type kept":  {raw: `{"edu_type":"m.presence","content":{"push":[]}}`, ok: true, wantTyp: "m.presence"},
		"not JSON":           {raw: `{`},
		"not an object":      {raw: `[1,2]`},
		"missing edu_type":   {raw: `{"content":{}}`},
		"edu_type a number":  {raw: `{"edu_type":5,"content":{}}`},
		"missing content":    {raw: `{"edu_type":"m.typing"}`},
		"content an array":   {raw: `{"edu_type":"m.typing","content":[]}`},
		"content a string":   {raw: `{"edu_type":"m.typing","content":"x"}`},
		"content null":       {raw: `{"edu_type":"m.typing","content":null}`},
		"empty edu_type":     {raw: `{"edu_type":"","content":{}}`},
		"JSON null":          {raw: `null`},
		"trailing garbage":   {raw: `{"edu_type":"m.typing","content":{}} x`},
		"deeply nested junk": {raw: `{"edu_type":"m.typing","content":{"a":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}}`, ok: true, wantTyp: TypeTyping},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := DecodeEDU([]byte(c.raw))
			if !c.ok {
				if !errors.Is(err, ErrBadEDU) {
					t.Fatalf("got %+v, %v; want ErrBadEDU", e, err)
				}
				return
			}
			if err != nil || e.Type != c.wantTyp {
				t.Fatalf("got %+v, %v; want type %s", e, err, c.wantTyp)
			}
		})
	}
}

func TestDecodeReceipts(t *testing.T) {
	r := func(room, user, event string, ts int64) storage.Receipt {
		return storage.Receipt{RoomID: room, UserID: user, Type: ReadReceipt, EventID: event, TS: ts}
	}
	cases := map[string]struct {
		content string
		want    []storage.Receipt
		skipped int
		bad     bool
	}{
		"the spec's example": {
			content: `{"!some_room:example.org":{"m.read":{"@john:matrix.org":{"event_ids":["$read_this_event:matrix.org"],"data":{"ts":1533358089009}}}}}`,
			want:    []storage.Receipt{r("!some_room:example.org", "@john:matrix.org", "$read_this_event:matrix.org", 1533358089009)},
		},
		"several rooms and users, sorted": {
			content: `{"!b:x":{"m.read":{"@z:x":{"event_ids":["$2"],"data":{"ts":2}},"@a:x":{"event_ids":["$1"],"data":{"ts":1}}}},
			           "!a:x":{"m.read":{"@m:x":{"event_ids":["$3"],"data":{"ts":3}}}}}`,
			want: []storage.Receipt{r("!a:x", "@m:x", "$3", 3), r("!b:x", "@a:x", "$1", 1), r("!b:x", "@z:x", "$2", 2)},
		},
		"v12 room ID without a server": {
			content: `{"!abcdefABCDEF0123456789":{"m.read":{"@a:x":{"event_ids":["$1"],"data":{"ts":1}}}}}`,
			want:    []storage.Receipt{r("!abcdefABCDEF0123456789", "@a:x", "$1", 1)},
		},
		"main thread kept, other threads skipped": {
			content: `{"!r:x":{"m.read":{"@a:x":{"event_ids":["$1"],"data":{"ts":1,"thread_id":"main"}},
			                                "@b:x":{"event_ids":["$2"],"data":{"ts":2,"thread_id":"$root"}}}}}`,
			want: []storage.Receipt{r("!r:x", "@a:x", "$1", 1)}, skipped: 1,
		},
		"other receipt types are not ours": {
			content: `{"!r:x":{"m.read.private":{"@a:x":{"event_ids":["$1"],"data":{"ts":1}}},"m.fully_read":{}}}`,
			skipped: 1,
		},
		"several event IDs: the first": {
			content: `{"!r:x":{"m.read":{"@a:x":{"event_ids":["$1","$2"],"data":{"ts":1}}}}}`,
			want:    []storage.Receipt{r("!r:x", "@a:x", "$1", 1)},
		},
		"ts missing, negative, fractional, huge": {
			content: `{"!r:x":{"m.read":{"@a:x":{"event_ids":["$1"],"data":{}},"@b:x":{"event_ids":["$2"],"data":{"ts":-5}},
			           "@c:x":{"event_ids":["$3"],"data":{"ts":12.5}},"@d:x":{"event_ids":["$4"],"data":{"ts":1e300}},
			           "@e:x":{"event_ids":["$5"]}}}}`,
			want: []storage.Receipt{r("!r:x", "@a:x", "$1", 0), r("!r:x", "@b:x", "$2", 0), r("!r:x", "@c:x", "$3", 12),
				r("!r:x", "@d:x", "$4", 0), r("!r:x", "@e:x", "$5", 0)},
		},
		"bad entries skipped, good ones kept": {
			content: `{"!r:x":{"m.read":{
				"not a user":{"event_ids":["$1"],"data":{"ts":1}},
				"@nodomain":{"event_ids":["$1"],"data":{"ts":1}},
				"@noevents:x":{"event_ids":[],"data":{"ts":1}},
				"@nullevents:x":{"event_ids":null,"data":{"ts":1}},
				"@badevent:x":{"event_ids":["not-an-event"],"data":{"ts":1}},
				"@numevent:x":{"event_ids":[5],"data":{"ts":1}},
				"@strts:x":{"event_ids":["$1"],"data":{"ts":"soon"}},
				"@arr:x":[],
				"@good:x":{"event_ids":["$1"],"data":{"ts":7}}}},
			  "not-a-room":{"m.read":{"@a:x":{"event_ids":["$1"],"data":{"ts":1}}}},
			  "!noread:x":{},
			  "!readnotobject:x":{"m.read":[]},
			  "!roomnotobject:x":5}`,
			want: []storage.Receipt{r("!r:x", "@good:x", "$1", 7)}, skipped: 12,
		},
		"over-long IDs": {
			content: fmt.Sprintf(`{"!r:x":{"m.read":{"@a:x":{"event_ids":["$%s"],"data":{"ts":1}},"@%s:x":{"event_ids":["$1"],"data":{"ts":1}}}},"!%s":{"m.read":{}}}`,
				strings.Repeat("e", 300), strings.Repeat("u", 300), strings.Repeat("r", 300)),
			skipped: 3,
		},
		"empty object":        {content: `{}`},
		"not an object":       {content: `[]`, bad: true},
		"null":                {content: `null`, bad: true},
		"not JSON":            {content: `{"!r:x":`, bad: true},
		"a string":            {content: `"m.read"`, bad: true},
		"room value is a nul": {content: `{"!r:x":null}`, skipped: 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, skipped, err := DecodeReceipts([]byte(c.content))
			if c.bad {
				if !errors.Is(err, ErrBadEDU) {
					t.Fatalf("got %v, %v; want ErrBadEDU", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) || skipped != c.skipped {
				t.Fatalf("got %+v (skipped %d)\nwant %+v (skipped %d)", got, skipped, c.want, c.skipped)
			}
		})
	}
}

func TestDecodeReceiptsBounded(t *testing.T) {
	users := map[string]any{}
	for i := range MaxReceiptsPerEDU + 10 {
		users[fmt.Sprintf("@u%05d:x", i)] = map[string]any{"event_ids": []string{"$e"}, "data": map[string]any{"ts": 1}}
	}
	content, _ := json.Marshal(map[string]any{"!r:x": map[string]any{"m.read": users}})
	got, skipped, err := DecodeReceipts(content)
	if err != nil || len(got) != MaxReceiptsPerEDU || skipped != 10 {
		t.Fatalf("got %d receipts, %d skipped, %v; want %d and 10", len(got), skipped, err, MaxReceiptsPerEDU)
	}
}

func TestEncodeReceipts(t *testing.T) {
	r := func(user, event string, ts int64) storage.Receipt {
		return storage.Receipt{RoomID: "!r:x", UserID: user, Type: ReadReceipt, EventID: event, TS: ts}
	}
	cases := map[string]struct {
		in   []storage.Receipt
		want string
		bad  bool
	}{
		"one": {
			in:   []storage.Receipt{r("@a:x", "$1", 5)},
			want: `{"content":{"!r:x":{"m.read":{"@a:x":{"event_ids":["$1"],"data":{"ts":5}}}}},"edu_type":"m.receipt"}`,
		},
		"newest per user wins, whatever the order": {
			in: []storage.Receipt{r("@a:x", "$2", 9), r("@b:x", "$1", 5), r("@a:x", "$1", 3), r("@b:x", "$3", 6)},
			want: `{"content":{"!r:x":{"m.read":{"@a:x":{"event_ids":["$2"],"data":{"ts":9}},` +
				`"@b:x":{"event_ids":["$3"],"data":{"ts":6}}}}},"edu_type":"m.receipt"}`,
		},
		"none":            {bad: true},
		"another room":    {in: []storage.Receipt{{RoomID: "!other:x", UserID: "@a:x", Type: ReadReceipt, EventID: "$1"}}, bad: true},
		"missing a field": {in: []storage.Receipt{{RoomID: "!r:x", UserID: "@a:x", Type: ReadReceipt}}, bad: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := EncodeReceipts("!r:x", c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("got %s, %v\nwant %s", got, err, c.want)
			}
			// And it reads back.
			e, err := DecodeEDU(got)
			if err != nil || e.Type != TypeReceipt {
				t.Fatalf("DecodeEDU: %+v %v", e, err)
			}
			back, skipped, err := DecodeReceipts(e.Content)
			if err != nil || skipped != 0 || len(back) == 0 {
				t.Fatalf("DecodeReceipts: %+v %d %v", back, skipped, err)
			}
		})
	}
}

func TestTypingEDU(t *testing.T) {
	cases := map[string]struct {
		content string
		want    TypingUpdate
		bad     bool
	}{
		"start":           {content: `{"room_id":"!r:x","user_id":"@a:x","typing":true}`, want: TypingUpdate{"!r:x", "@a:x", true}},
		"stop":            {content: `{"room_id":"!r:x","user_id":"@a:x","typing":false}`, want: TypingUpdate{"!r:x", "@a:x", false}},
		"extra fields":    {content: `{"room_id":"!r:x","user_id":"@a:x","typing":true,"timeout":5}`, want: TypingUpdate{"!r:x", "@a:x", true}},
		"typing missing":  {content: `{"room_id":"!r:x","user_id":"@a:x"}`, bad: true},
		"typing a string": {content: `{"room_id":"!r:x","user_id":"@a:x","typing":"yes"}`, bad: true},
		"room missing":    {content: `{"user_id":"@a:x","typing":true}`, bad: true},
		"user missing":    {content: `{"room_id":"!r:x","typing":true}`, bad: true},
		"bad room ID":     {content: `{"room_id":"r:x","user_id":"@a:x","typing":true}`, bad: true},
		"bad user ID":     {content: `{"room_id":"!r:x","user_id":"a","typing":true}`, bad: true},
		"null":            {content: `null`, bad: true},
		"array":           {content: `[]`, bad: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeTyping([]byte(c.content))
			if c.bad {
				if !errors.Is(err, ErrBadEDU) {
					t.Fatalf("got %+v, %v; want ErrBadEDU", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
	raw, err := EncodeTyping(TypingUpdate{RoomID: "!r:x", UserID: "@a:x", Typing: true})
	if err != nil || string(raw) != `{"content":{"room_id":"!r:x","user_id":"@a:x","typing":true},"edu_type":"m.typing"}` {
		t.Fatalf("EncodeTyping: %s %v", raw, err)
	}
	if _, err := EncodeTyping(TypingUpdate{RoomID: "!r:x"}); err == nil {
		t.Fatal("EncodeTyping without a user: no error")
	}
}

func TestClampTS(t *testing.T) {
	const now = 1_000_000
	cases := map[string]struct{ ts, want int64 }{
		"in the past": {ts: 500, want: 500},
		"now":         {ts: now, want: now},
		"future":      {ts: now + 1, want: now},
		"missing":     {ts: 0, want: now},
		"negative":    {ts: -1, want: now},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ClampTS(c.ts, now); got != c.want {
				t.Fatalf("ClampTS(%d) = %d, want %d", c.ts, got, c.want)
			}
		})
	}
}

func FuzzDecodeReceipts(f *testing.F) {
	f.Add([]byte(`{"!some_room:example.org":{"m.read":{"@john:matrix.org":{"event_ids":["$read_this_event:matrix.org"],"data":{"ts":1533358089009}}}}}`))
	f.Add([]byte(`{"!r:x":{"m.read":{"@a:x":{"event_ids":[],"data":{"ts":"x"}}}}}`))
	f.Add([]byte(`{"!r":{"m.read":{"@a:[::1]:8448":{"event_ids":["$1"],"data":{"ts":1e99,"thread_id":"main"}}}}}`))
	f.Fuzz(func(t *testing.T, content []byte) {
		rs, skipped, err := DecodeReceipts(content)
		if err != nil {
			return
		}
		if len(rs) > MaxReceiptsPerEDU || skipped < 0 {
			t.Fatalf("%d receipts, %d skipped", len(rs), skipped)
		}
		byRoom := map[string][]storage.Receipt{}
		for _, r := range rs {
			if r.TS < 0 || r.Type != ReadReceipt || !validRoomID(r.RoomID) || !validUserID(r.UserID) || !validEventID(r.EventID) {
				t.Fatalf("decoded an invalid receipt %+v", r)
			}
			byRoom[r.RoomID] = append(byRoom[r.RoomID], r)
		}
		for room, rs := range byRoom {
			if _, err := EncodeReceipts(room, rs); err != nil {
				t.Fatalf("decoded receipts do not encode: %v", err)
			}
		}
	})
}

func FuzzDecodeTyping(f *testing.F) {
	f.Add([]byte(`{"room_id":"!r:x","user_id":"@a:x","typing":true}`))
	f.Add([]byte(`{"room_id":"!r","user_id":"@a:[::1]","typing":false}`))
	f.Fuzz(func(t *testing.T, content []byte) {
		u, err := DecodeTyping(content)
		if err != nil {
			return
		}
		if _, err := EncodeTyping(u); err != nil {
			t.Fatalf("decoded update does not encode: %v", err)
		}
	})
}
