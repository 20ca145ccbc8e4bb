package content

import (
	"reflect"
	"testing"
)

func TestParseRelatesTo(t *testing.T) {
	tests := map[string]struct {
		in   string
		want *RelatesTo
	}{
		"reaction": {
			in:   `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍"}}`,
			want: &RelatesTo{RelType: RelAnnotation, EventID: "$e", Key: "👍"},
		},
		"edit": {
			in:   `{"body":"* x","m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}`,
			want: &RelatesTo{RelType: RelReplace, EventID: "$e"},
		},
		"plain reply": {
			in:   `{"m.relates_to":{"m.in_reply_to":{"event_id":"$e"}}}`,
			want: &RelatesTo{InReplyTo: "$e"},
		},
		"thread with fallback": {
			in:   `{"m.relates_to":{"rel_type":"m.thread","event_id":"$root","m.in_reply_to":{"event_id":"$last"},"is_falling_back":true}}`,
			want: &RelatesTo{RelType: RelThread, EventID: "$root", InReplyTo: "$last", IsFallingBack: true},
		},
		"custom rel type": {
			in:   `{"m.relates_to":{"rel_type":"org.example.vote","event_id":"$poll"}}`,
			want: &RelatesTo{RelType: "org.example.vote", EventID: "$poll"},
		},
		"absent":                  {in: `{"body":"x"}`},
		"content not an object":   {in: `["m.relates_to"]`},
		"content null":            {in: `null`},
		"content invalid":         {in: `{"m.relates_to":`},
		"relates_to a string":     {in: `{"m.relates_to":"$e"}`},
		"relates_to null":         {in: `{"m.relates_to":null}`},
		"relates_to empty":        {in: `{"m.relates_to":{}}`},
		"event_id without sigil":  {in: `{"m.relates_to":{"rel_type":"m.replace","event_id":"e"}}`},
		"event_id only a sigil":   {in: `{"m.relates_to":{"rel_type":"m.replace","event_id":"$"}}`},
		"event_id a number":       {in: `{"m.relates_to":{"rel_type":"m.replace","event_id":12}}`},
		"rel_type a number":       {in: `{"m.relates_to":{"rel_type":1,"event_id":"$e"}}`},
		"event_id without rel":    {in: `{"m.relates_to":{"event_id":"$e"}}`},
		"in_reply_to a string":    {in: `{"m.relates_to":{"m.in_reply_to":"$e"}}`},
		"in_reply_to bad id":      {in: `{"m.relates_to":{"m.in_reply_to":{"event_id":"@bob:b.org"}}}`},
		"room id is not an event": {in: `{"m.relates_to":{"rel_type":"m.thread","event_id":"!room:a.org"}}`},
		"bad rel keeps the reply": {
			in:   `{"m.relates_to":{"rel_type":"m.thread","event_id":7,"is_falling_back":true,"m.in_reply_to":{"event_id":"$e"}}}`,
			want: &RelatesTo{InReplyTo: "$e"},
		},
		"wrong types for key and flag": {
			in:   `{"m.relates_to":{"rel_type":"m.thread","event_id":"$r","key":5,"is_falling_back":"true"}}`,
			want: &RelatesTo{RelType: RelThread, EventID: "$r"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ParseRelatesTo([]byte(tc.in))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRelatesTo(%s) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestIsEventID(t *testing.T) {
	tests := map[string]struct {
		in   string
		want bool
	}{
		"v3+ id":      {"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", true},
		"v1 id":       {"$abc:example.org", true},
		"empty":       {"", false},
		"sigil only":  {"$", false},
		"room id":     {"!abc:example.org", false},
		"no sigil":    {"abc", false},
		"leading gap": {" $abc", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsEventID(tc.in); got != tc.want {
				t.Errorf("IsEventID(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
