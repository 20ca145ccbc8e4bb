package content

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Message
	}{
		"plain text": {
			in:   `{"msgtype":"m.text","body":"hello"}`,
			want: Message{MsgType: MsgText, Body: "hello"},
		},
		"formatted emote": {
			in:   `{"msgtype":"m.emote","body":"waves","format":"org.matrix.custom.html","formatted_body":"<b>waves</b>"}`,
			want: Message{MsgType: MsgEmote, Body: "waves", Format: FormatHTML, FormattedBody: "<b>waves</b>"},
		},
		"reply with mentions": {
			in: `{"msgtype":"m.text","body":"yes","m.relates_to":{"m.in_reply_to":{"event_id":"$a"}},"m.mentions":{"user_ids":["@bob:b.org"],"room":true}}`,
			want: Message{MsgType: MsgText, Body: "yes", RelatesTo: &RelatesTo{InReplyTo: "$a"},
				Mentions: &Mentions{UserIDs: []string{"@bob:b.org"}, Room: true}},
		},
		"edit": {
			in: `{"msgtype":"m.text","body":"* hi","m.new_content":{"msgtype":"m.text","body":"hi"},"m.relates_to":{"rel_type":"m.replace","event_id":"$o"}}`,
			want: Message{MsgType: MsgText, Body: "* hi", NewContent: &Message{MsgType: MsgText, Body: "hi"},
				RelatesTo: &RelatesTo{RelType: RelReplace, EventID: "$o"}},
		},
		"m.new_content not an object": {
			in:   `{"body":"* hi","m.new_content":"hi"}`,
			want: Message{Body: "* hi"},
		},
		"m.new_content null": {
			in:   `{"body":"* hi","m.new_content":null}`,
			want: Message{Body: "* hi"},
		},
		"m.new_content array": {
			in:   `{"body":"* hi","m.new_content":[{"body":"x"}]}`,
			want: Message{Body: "* hi"},
		},
		"nested m.new_content kept raw, one level deep": {
			in: `{"body":"a","m.new_content":{"body":"b","m.new_content":{"body":"c"}}}`,
			want: Message{Body: "a", NewContent: &Message{Body: "b",
				Extra: map[string]json.RawMessage{"m.new_content": json.RawMessage(`{"body":"c"}`)}}},
		},
		"unknown keys kept": {
			in: `{"msgtype":"m.image","body":"cat.png","url":"mxc://a.org/x","info":{"w":3},"com.example":[1]}`,
			want: Message{MsgType: "m.image", Body: "cat.png", Extra: map[string]json.RawMessage{
				"url": json.RawMessage(`"mxc://a.org/x"`), "info": json.RawMessage(`{"w":3}`), "com.example": json.RawMessage(`[1]`)}},
		},
		"hostile types read as zero": {
			in:   `{"msgtype":7,"body":{"x":1},"format":[],"formatted_body":true,"m.relates_to":"$x","m.mentions":["@a:b"]}`,
			want: Message{},
		},
		"mentions with bad elements": {
			in:   `{"body":"x","m.mentions":{"user_ids":["@a:b.org",3,null,"nobody","@c:d.org"],"room":"yes"}}`,
			want: Message{Body: "x", Mentions: &Mentions{UserIDs: []string{"@a:b.org", "@c:d.org"}}},
		},
		"mentions user_ids not a list": {
			in:   `{"body":"x","m.mentions":{"user_ids":"@a:b.org"}}`,
			want: Message{Body: "x", Mentions: &Mentions{}},
		},
		"empty object": {
			in:   ` {} `,
			want: Message{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMessage(%s)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMessageNotObject(t *testing.T) {
	tests := map[string]string{
		"null":             `null`,
		"array":            `[{"body":"x"}]`,
		"string":           `"hello"`,
		"number":           `42`,
		"empty":            ``,
		"garbage":          `{"body":`,
		"trailing garbage": `{"body":"x"} {}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMessage([]byte(in))
			if !errors.Is(err, ErrNotObject) {
				t.Errorf("ParseMessage(%q) = %v, want ErrNotObject", in, err)
			}
		})
	}
}

func TestMessageJSON(t *testing.T) {
	tests := map[string]struct {
		in   Message
		want string
	}{
		"only the keys set": {
			in:   Message{MsgType: MsgText, Body: "hi"},
			want: `{"body":"hi","msgtype":"m.text"}`,
		},
		"html not escaped": {
			in:   Message{MsgType: MsgText, Body: "a<b", Format: FormatHTML, FormattedBody: "<i>a</i>&amp;"},
			want: `{"body":"a<b","format":"org.matrix.custom.html","formatted_body":"<i>a</i>&amp;","msgtype":"m.text"}`,
		},
		"reply": {
			in:   Message{Body: "x", RelatesTo: &RelatesTo{InReplyTo: "$a"}},
			want: `{"body":"x","m.relates_to":{"m.in_reply_to":{"event_id":"$a"}}}`,
		},
		"thread fallback": {
			in:   Message{Body: "x", RelatesTo: &RelatesTo{RelType: RelThread, EventID: "$r", InReplyTo: "$l", IsFallingBack: true}},
			want: `{"body":"x","m.relates_to":{"event_id":"$r","is_falling_back":true,"m.in_reply_to":{"event_id":"$l"},"rel_type":"m.thread"}}`,
		},
		"thread reply says is_falling_back false": {
			in:   Message{Body: "x", RelatesTo: &RelatesTo{RelType: RelThread, EventID: "$r", InReplyTo: "$l"}},
			want: `{"body":"x","m.relates_to":{"event_id":"$r","is_falling_back":false,"m.in_reply_to":{"event_id":"$l"},"rel_type":"m.thread"}}`,
		},
		"edit with mentions": {
			in: Message{Body: "* x", NewContent: &Message{Body: "x", Mentions: &Mentions{UserIDs: []string{"@a:b"}}},
				RelatesTo: &RelatesTo{RelType: RelReplace, EventID: "$o"}, Mentions: &Mentions{}},
			want: `{"body":"* x","m.mentions":{},"m.new_content":{"body":"x","m.mentions":{"user_ids":["@a:b"]}},"m.relates_to":{"event_id":"$o","rel_type":"m.replace"}}`,
		},
		"extra cannot override a field": {
			in:   Message{Body: "real", Extra: map[string]json.RawMessage{"body": json.RawMessage(`"fake"`), "url": json.RawMessage(`"mxc://a/b"`)}},
			want: `{"body":"real","url":"mxc://a/b"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.in.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("JSON()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// A parsed message written back and parsed again is the same message,
// unknown keys included.
func TestMessageRoundTrip(t *testing.T) {
	inputs := map[string]string{
		"image":          `{"msgtype":"m.image","body":"cat","url":"mxc://a.org/x","info":{"mimetype":"image/png","size":12}}`,
		"edit of reply":  `{"msgtype":"m.text","body":"* r","m.new_content":{"msgtype":"m.text","body":"r","x.custom":1},"m.relates_to":{"rel_type":"m.replace","event_id":"$o"}}`,
		"nested new":     `{"body":"a","m.new_content":{"body":"b","m.new_content":{"body":"c"}}}`,
		"thread reply":   `{"body":"t","m.relates_to":{"rel_type":"m.thread","event_id":"$r","is_falling_back":false,"m.in_reply_to":{"event_id":"$q"}}}`,
		"custom rel":     `{"body":"t","m.relates_to":{"rel_type":"com.example.rel","event_id":"$r"}}`,
		"reaction shape": `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$r","key":"👍"}}`,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			m1, err := ParseMessage([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := m1.JSON()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := ParseMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m1, m2) {
				t.Errorf("round trip through %s\n got %+v\nwant %+v", out, m2, m1)
			}
			var a, b any
			_ = json.Unmarshal([]byte(in), &a)
			_ = json.Unmarshal(out, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("JSON changed:\n in %s\nout %s", in, out)
			}
		})
	}
}

func TestIsHTML(t *testing.T) {
	tests := map[string]struct {
		m    Message
		want bool
	}{
		"html":            {Message{Format: FormatHTML, FormattedBody: "<b>x</b>"}, true},
		"no format":       {Message{FormattedBody: "<b>x</b>"}, false},
		"other format":    {Message{Format: "text/markdown", FormattedBody: "*x*"}, false},
		"empty html":      {Message{Format: FormatHTML}, false},
		"plain body only": {Message{Body: "<b>x</b>"}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.m.IsHTML(); got != tc.want {
				t.Errorf("IsHTML() = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(`{"msgtype":"m.text","body":"x","m.new_content":{"body":1},"m.relates_to":{"rel_type":"m.replace","event_id":"$o"}}`)
	f.Add(`{"m.mentions":{"user_ids":[1,"@a:b"]}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMessage([]byte(in))
		if err != nil {
			return
		}
		out, err := m.JSON()
		if err != nil {
			t.Fatalf("JSON of a parsed message: %v", err)
		}
		if !json.Valid(out) || !strings.HasPrefix(string(out), "{") {
			t.Fatalf("JSON wrote %q", out)
		}
	})
}
