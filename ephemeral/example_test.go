package ephemeral_test

import (
	"fmt"
	"time"

	"github.com/embedmatrix/homeserver/ephemeral"
	"github.com/embedmatrix/homeserver/storage"
)

func ExampleEncodeReceipts() {
	edu, err := ephemeral.EncodeReceipts("!room:a.example", []storage.Receipt{
		{RoomID: "!room:a.example", UserID: "@alice:a.example", Type: ephemeral.ReadReceipt, EventID: "$m1", TS: 1533358089009},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(edu))
	// Output:
	// {"content":{"!room:a.example":{"m.read":{"@alice:a.example":{"event_ids":["$m1"],"data":{"ts":1533358089009}}}}},"edu_type":"m.receipt"}
}

func ExampleDecodeReceipts() {
	edu, _ := ephemeral.DecodeEDU([]byte(`{"edu_type": "m.receipt", "content": {"!room:b.example": {"m.read": {
		"@bob:b.example": {"event_ids": ["$m1"], "data": {"ts": 1533358089009}},
		"not-a-user": {"event_ids": ["$m1"], "data": {"ts": 1}}}}}}`))
	rs, skipped, err := ephemeral.DecodeReceipts(edu.Content)
	fmt.Println(rs, skipped, err)
	// Output:
	// [{!room:b.example @bob:b.example m.read $m1 1533358089009}] 1 <nil>
}

func ExampleCoalescer() {
	done := make(chan struct{})
	c := ephemeral.NewCoalescer(20*time.Millisecond, nil, func(dest, roomID string, rs []storage.Receipt) {
		edu, _ := ephemeral.EncodeReceipts(roomID, rs)
		fmt.Println(dest, string(edu))
		close(done)
	})
	defer c.Close()
	for i := range 5 { // alice reads five messages in a row: one EDU, the newest receipt
		c.Add("b.example", storage.Receipt{RoomID: "!r:a.example", UserID: "@alice:a.example",
			Type: ephemeral.ReadReceipt, EventID: fmt.Sprintf("$m%d", i), TS: int64(100 + i)})
	}
	<-done
	// Output:
	// b.example {"content":{"!r:a.example":{"m.read":{"@alice:a.example":{"event_ids":["$m4"],"data":{"ts":104}}}}},"edu_type":"m.receipt"}
}

func ExampleTracker() {
	t := ephemeral.NewTracker(ephemeral.TrackerConfig{
		Timeout: 30 * time.Millisecond,
		OnChange: func(c ephemeral.TypingChange) {
			fmt.Println(c.UserID, "typing:", c.Typing, "expired:", c.Expired)
		},
	})
	defer t.Close()
	t.Set("!r:a.example", "@bob:b.example", true)
	fmt.Println(t.Users("!r:a.example"))
	time.Sleep(100 * time.Millisecond) // nobody refreshes: bob stops
	fmt.Println(t.Users("!r:a.example"))
	// Output:
	// @bob:b.example typing: true expired: false
	// [@bob:b.example]
	// @bob:b.example typing: false expired: true
	// []
}

func ExampleDecodePresence() {
	edu, _ := ephemeral.DecodeEDU([]byte(`{"edu_type": "m.presence", "content": {"push": [
		{"user_id": "@bob:b.example", "presence": "online", "last_active_ago": 5000, "currently_active": true},
		{"user_id": "@bob:b.example", "presence": "busy", "last_active_ago": 1}]}}`))
	us, skipped, err := ephemeral.DecodePresence(edu.Content)
	fmt.Printf("%+v %d %v\n", us, skipped, err)
	// Output:
	// [{UserID:@bob:b.example Presence:online StatusMsg: LastActiveAgo:5000 CurrentlyActive:true}] 1 <nil>
}

func ExamplePresenceTracker() {
	tr := ephemeral.NewPresenceTracker(ephemeral.PresenceConfig{Remote: true})
	defer tr.Close()
	// An online user whose server says they were last active 6 minutes
	// ago, and not currently active, is idle: unavailable at once.
	u := ephemeral.PresenceUpdate{UserID: "@bob:b.example", Presence: ephemeral.Online, LastActiveAgo: 6 * 60 * 1000}
	tr.Set(ephemeral.StateOf(u, time.Now()))
	p, _ := tr.Get("@bob:b.example")
	fmt.Println(p.Presence)
	// Output:
	// unavailable
}
