package relations

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/content"
)

var original = Event{
	EventID: "$orig", RoomID: "!r:a.org", Type: TypeMessage, Sender: "@alice:a.org",
	OriginServerTS: 1000, Content: []byte(`{"msgtype":"m.text","body":"hello"}`),
}

func editOf(id string, ts int64, mod func(*Event)) Event {
	e := Event{
		EventID: id, RoomID: "!r:a.org", Type: TypeMessage, Sender: "@alice:a.org", OriginServerTS: ts,
		Content: []byte(`{"msgtype":"m.text","body":"* hi ` + id + `","m.new_content":{"msgtype":"m.text","body":"hi ` + id + `"},"m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`),
	}
	if mod != nil {
		mod(&e)
	}
	return e
}

func TestCheckEdit(t *testing.T) {
	tests := map[string]struct {
		original Event
		edit     Event
		reason   string // "" when valid
	}{
		"valid": {original, editOf("$e", 2000, nil), ""},
		"msgtype may change": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"msgtype":"m.emote","body":"* waves","m.new_content":{"msgtype":"m.emote","body":"waves"},"m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`)
		}), ""},
		"other room":   {original, editOf("$e", 2000, func(e *Event) { e.RoomID = "!other:a.org" }), "another room"},
		"other sender": {original, editOf("$e", 2000, func(e *Event) { e.Sender = "@mallory:a.org" }), "sent by"},
		"other sender on the same server is still another sender": {original,
			editOf("$e", 2000, func(e *Event) { e.Sender = "@alice2:a.org" }), "sent by"},
		"type change": {original, editOf("$e", 2000, func(e *Event) { e.Type = "m.sticker" }), "changes the type"},
		"original is state": {func() Event { o := original; o.IsState = true; return o }(),
			editOf("$e", 2000, func(e *Event) { e.IsState = true }), "state event"},
		"edit is state": {original, editOf("$e", 2000, func(e *Event) { e.IsState = true }), "state event"},
		"edit of an edit": {func() Event {
			o := editOf("$orig", 1000, nil)
			o.Content = []byte(`{"body":"* x","m.new_content":{"body":"x"},"m.relates_to":{"rel_type":"m.replace","event_id":"$older"}}`)
			return o
		}(), editOf("$e", 2000, nil), "itself an edit"},
		"no m.new_content": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"body":"* x","m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`)
		}), "no m.new_content"},
		"m.new_content a string": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"body":"* x","m.new_content":"x","m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`)
		}), "no m.new_content"},
		"m.new_content null": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"body":"* x","m.new_content":null,"m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`)
		}), "no m.new_content"},
		"not an m.replace": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"body":"x","m.new_content":{"body":"x"},"m.relates_to":{"rel_type":"m.thread","event_id":"$orig"}}`)
		}), "no m.replace"},
		"no relation": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"body":"x","m.new_content":{"body":"x"}}`)
		}), "no m.replace"},
		"content not an object": {original, editOf("$e", 2000, func(e *Event) { e.Content = []byte(`[]`) }), "no m.replace"},
		"points at another event": {original, editOf("$e", 2000, func(e *Event) {
			e.Content = []byte(`{"body":"x","m.new_content":{"body":"x"},"m.relates_to":{"rel_type":"m.replace","event_id":"$else"}}`)
		}), "not $orig"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckEdit(tc.original, tc.edit)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("CheckEdit = %v, want valid", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEdit) {
				t.Fatalf("CheckEdit = %v, want ErrInvalidEdit", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("CheckEdit = %q, want the reason %q", err, tc.reason)
			}
		})
	}
}

func TestLatestEdit(t *testing.T) {
	tests := map[string]struct {
		edits []Event
		want  string // "" when none
	}{
		"none":                          {nil, ""},
		"one":                           {[]Event{editOf("$a", 2000, nil)}, "$a"},
		"latest ts wins":                {[]Event{editOf("$z", 2000, nil), editOf("$a", 3000, nil), editOf("$m", 2500, nil)}, "$a"},
		"arrival order does not matter": {[]Event{editOf("$a", 3000, func(e *Event) { e.StreamPos = 1 }), editOf("$b", 2000, func(e *Event) { e.StreamPos = 2 })}, "$a"},
		"tie: largest event_id":         {[]Event{editOf("$B", 2000, nil), editOf("$a", 2000, nil), editOf("$A", 2000, nil)}, "$a"},
		"tie, other order":              {[]Event{editOf("$a", 2000, nil), editOf("$B", 2000, nil)}, "$a"},
		"invalid latest ignored": {[]Event{
			editOf("$good", 2000, nil),
			editOf("$evil", 9000, func(e *Event) { e.Sender = "@mallory:b.org" }),
			editOf("$typed", 9000, func(e *Event) { e.Type = "m.sticker" }),
		}, "$good"},
		"all invalid": {[]Event{editOf("$evil", 9000, func(e *Event) { e.RoomID = "!x:b.org" })}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := LatestEdit(original, tc.edits)
			if ok != (tc.want != "") || got.EventID != tc.want {
				t.Errorf("LatestEdit = %q, %v; want %q", got.EventID, ok, tc.want)
			}
		})
	}
}

func TestEditContent(t *testing.T) {
	tests := map[string]struct {
		in   content.Message
		want string
	}{
		"plain": {
			in:   content.Message{MsgType: content.MsgText, Body: "hi"},
			want: `{"body":"* hi","m.new_content":{"body":"hi","msgtype":"m.text"},"m.relates_to":{"event_id":"$orig","rel_type":"m.replace"},"msgtype":"m.text"}`,
		},
		"formatted": {
			in:   content.Message{MsgType: content.MsgText, Body: "hi", Format: content.FormatHTML, FormattedBody: "<b>hi</b>"},
			want: `{"body":"* hi","format":"org.matrix.custom.html","formatted_body":"* <b>hi</b>","m.new_content":{"body":"hi","format":"org.matrix.custom.html","formatted_body":"<b>hi</b>","msgtype":"m.text"},"m.relates_to":{"event_id":"$orig","rel_type":"m.replace"},"msgtype":"m.text"}`,
		},
		"relations of the new content dropped": {
			in:   content.Message{MsgType: content.MsgText, Body: "r", RelatesTo: &content.RelatesTo{InReplyTo: "$q"}},
			want: `{"body":"* r","m.new_content":{"body":"r","msgtype":"m.text"},"m.relates_to":{"event_id":"$orig","rel_type":"m.replace"},"msgtype":"m.text"}`,
		},
		"mentions in both": {
			in:   content.Message{MsgType: content.MsgText, Body: "hi bob", Mentions: &content.Mentions{UserIDs: []string{"@bob:b.org"}}},
			want: `{"body":"* hi bob","m.mentions":{"user_ids":["@bob:b.org"]},"m.new_content":{"body":"hi bob","m.mentions":{"user_ids":["@bob:b.org"]},"msgtype":"m.text"},"m.relates_to":{"event_id":"$orig","rel_type":"m.replace"},"msgtype":"m.text"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := EditContent("$orig", tc.in)
			got, err := e.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("EditContent\n got %s\nwant %s", got, tc.want)
			}
			// What we build is what we accept.
			ev := editOf("$e", 2000, func(ev *Event) { ev.Content = got })
			if err := CheckEdit(original, ev); err != nil {
				t.Errorf("CheckEdit of our own edit: %v", err)
			}
		})
	}
}

func TestEditContentDoesNotAlias(t *testing.T) {
	in := content.Message{Body: "x", Mentions: &content.Mentions{UserIDs: []string{"@a:a.org"}}}
	e := EditContent("$o", in)
	e.NewContent.Mentions.UserIDs[0] = "@changed:a.org"
	if in.Mentions.UserIDs[0] != "@a:a.org" || e.Mentions.UserIDs[0] != "@a:a.org" {
		t.Errorf("mentions shared: in %v, top %v", in.Mentions.UserIDs, e.Mentions.UserIDs)
	}
}

func TestMentionsAdded(t *testing.T) {
	m := func(room bool, ids ...string) *content.Mentions { return &content.Mentions{UserIDs: ids, Room: room} }
	tests := map[string]struct {
		before, after, want *content.Mentions
	}{
		"spec example: bob added": {m(false, "@alice:e.org"), m(false, "@alice:e.org", "@bob:e.org"), m(false, "@bob:e.org")},
		"mention removed":         {m(false, "@alice:e.org"), m(false), m(false)},
		"nothing before":          {nil, m(true, "@a:e.org"), m(true, "@a:e.org")},
		"nothing after":           {m(true, "@a:e.org"), nil, m(false)},
		"room already mentioned":  {m(true), m(true), m(false)},
		"duplicates in after":     {nil, m(false, "@a:e.org", "@a:e.org"), m(false, "@a:e.org")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MentionsAdded(tc.before, tc.after); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MentionsAdded = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestApplyEdit(t *testing.T) {
	reply := original
	reply.Content = []byte(`{"msgtype":"m.text","body":"I really like cake","formatted_body":"I really like cake","m.relates_to":{"m.in_reply_to":{"event_id":"$q"}}}`)
	edit := editOf("$e", 2000, func(e *Event) {
		e.Content = []byte(`{"body":"* I really like *chocolate* cake","msgtype":"m.text","m.new_content":{"body":"I really like *chocolate* cake","msgtype":"m.text","com.example.extension_property":"chocolate","m.relates_to":{"m.in_reply_to":{"event_id":"$ignored"}}},"m.relates_to":{"rel_type":"m.replace","event_id":"$orig"}}`)
	})
	got, err := ApplyEdit(reply, edit)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := got.JSON()
	// https://spec.matrix.org/latest/client-server-api/#applying-mnew_content: formatted_body gone,
	// the extension kept, the original's relation kept, the new content's ignored.
	want := `{"body":"I really like *chocolate* cake","com.example.extension_property":"chocolate","m.relates_to":{"m.in_reply_to":{"event_id":"$q"}},"msgtype":"m.text"}`
	if string(b) != want {
		t.Errorf("ApplyEdit\n got %s\nwant %s", b, want)
	}

	bad := editOf("$e", 2000, func(e *Event) { e.Sender = "@mallory:b.org" })
	got, err = ApplyEdit(reply, bad)
	if !errors.Is(err, ErrInvalidEdit) || got.Body != "I really like cake" {
		t.Errorf("ApplyEdit of an invalid edit = %q, %v; want the original and ErrInvalidEdit", got.Body, err)
	}
	if _, err := ApplyEdit(Event{Content: []byte(`"x"`)}, edit); !errors.Is(err, content.ErrNotObject) {
		t.Errorf("ApplyEdit on bad original content = %v, want ErrNotObject", err)
	}
}
