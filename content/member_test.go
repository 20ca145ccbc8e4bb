package content

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseMember(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Member
	}{
		"join":              {`{"membership":"join","displayname":"Alice","avatar_url":"mxc://a/b"}`, Member{Membership: "join", DisplayName: "Alice", AvatarURL: "mxc://a/b"}},
		"kick with reason":  {`{"membership":"leave","reason":"spam"}`, Member{Membership: "leave", Reason: "spam"}},
		"direct invite":     {`{"membership":"invite","is_direct":true}`, Member{Membership: "invite", IsDirect: true}},
		"is_direct false":   {`{"membership":"invite","is_direct":false}`, Member{Membership: "invite"}},
		"is_direct string":  {`{"is_direct":"true"}`, Member{IsDirect: true}},
		"is_direct number":  {`{"is_direct":1}`, Member{IsDirect: true}},
		"is_direct garbage": {`{"is_direct":"yes please"}`, Member{}},
		"wrong types":       {`{"membership":5,"reason":{"x":1},"displayname":null}`, Member{}},
		"one bad field":     {`{"membership":"ban","reason":[1]}`, Member{Membership: "ban"}},
		"empty object":      {`{}`, Member{}},
		"absent content":    {``, Member{}},
		"escaped string":    {`{"membership":"j\u006fin"}`, Member{Membership: "join"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseMember([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseMember(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMember(%s) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMemberNotObject(t *testing.T) {
	for name, in := range map[string]string{"array": `[1]`, "string": `"join"`, "truncated": `{"membership":`} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseMember([]byte(in)); !errors.Is(err, ErrNotObject) {
				t.Errorf("ParseMember(%s) error = %v, want ErrNotObject", in, err)
			}
		})
	}
}

func TestMemberOf(t *testing.T) {
	tests := map[string]struct {
		in   string
		want string
	}{
		"event":           {`{"type":"m.room.member","state_key":"@a:x","content":{"membership":"ban"}}`, "ban"},
		"no content":      {`{"type":"m.room.member"}`, ""},
		"content garbage": {`{"content":"join"}`, ""},
		"not json":        {`nope`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MemberOf([]byte(tc.in)).Membership; got != tc.want {
				t.Errorf("MemberOf(%s).Membership = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
