package content_test

import (
	"fmt"

	"github.com/embedmatrix/homeserver/content"
)

func ExampleParseMessage() {
	raw := []byte(`{
		"msgtype": "m.text",
		"body": "> <@bob:b.org> lunch?\n\nyes!",
		"format": "org.matrix.custom.html",
		"formatted_body": "<mx-reply>lunch?</mx-reply><b>yes!</b><script>steal()</script>",
		"m.relates_to": {"m.in_reply_to": {"event_id": "$lunch"}},
		"m.mentions": {"user_ids": ["@bob:b.org"]},
		"com.example.mood": "happy"
	}`)
	m, err := content.ParseMessage(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.MsgType, m.RelatesTo.InReplyTo, m.Mentions.UserIDs)
	fmt.Println(content.SanitizeHTML(m.FormattedBody))
	fmt.Println(string(m.Extra["com.example.mood"]))
	// Output:
	// m.text $lunch [@bob:b.org]
	// <b>yes!</b>
	// "happy"
}

func ExampleMessage_JSON() {
	m := content.Message{
		MsgType:   content.MsgEmote,
		Body:      "waves",
		RelatesTo: &content.RelatesTo{InReplyTo: "$hello"},
	}
	b, _ := m.JSON()
	fmt.Println(string(b))
	// Output:
	// {"body":"waves","m.relates_to":{"m.in_reply_to":{"event_id":"$hello"}},"msgtype":"m.emote"}
}
