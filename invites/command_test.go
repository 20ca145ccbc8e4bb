package invites

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/ids"
)

func TestParseCommand(t *testing.T) {
	id := func(s string) ids.UserID {
		u, err := ids.ParseUserID(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := map[string]struct {
		in   string
		want DMRequest
	}{
		"one user": {"/federation dm @bob:example.org",
			DMRequest{Users: []ids.UserID{id("@bob:example.org")}}},
		"group": {"/federation dm @bob:example.org @carol:[::1]:8448 @dan:1.2.3.4",
			DMRequest{Users: []ids.UserID{id("@bob:example.org"), id("@carol:[::1]:8448"), id("@dan:1.2.3.4")}, Group: true}},
		"extra white space": {"  /federation \t dm   @bob:example.org\n  @carol:example.com  ",
			DMRequest{Users: []ids.UserID{id("@bob:example.org"), id("@carol:example.com")}, Group: true}},
		"duplicate collapses to a 1:1": {"/federation dm @bob:example.org @bob:example.org",
			DMRequest{Users: []ids.UserID{id("@bob:example.org")}, Duplicates: []ids.UserID{id("@bob:example.org")}}},
		"duplicates in a group": {"/federation dm @a:x.org @b:y.org @a:x.org @b:y.org @c:z.org",
			DMRequest{Users: []ids.UserID{id("@a:x.org"), id("@b:y.org"), id("@c:z.org")}, Group: true,
				Duplicates: []ids.UserID{id("@a:x.org"), id("@b:y.org")}}},
		"same localpart other server is not a duplicate": {"/federation dm @a:x.org @a:x.org:8448",
			DMRequest{Users: []ids.UserID{id("@a:x.org"), id("@a:x.org:8448")}, Group: true}},
		"case-insensitive command": {"/Federation DM @bob:example.org",
			DMRequest{Users: []ids.UserID{id("@bob:example.org")}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCommand(tc.in)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCommand(%q) =\n %+v\nwant\n %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    error  // the sentinel
		badID   bool   // ErrInvalidUserID matches too
		message string // a part of the message
	}{
		"empty":                {"", ErrNotACommand, false, "not a /federation command"},
		"only spaces":          {"   \t", ErrNotACommand, false, ""},
		"plain message":        {"hello @bob:example.org", ErrNotACommand, false, ""},
		"other command":        {"/me waves", ErrNotACommand, false, ""},
		"glued subcommand":     {"/federationdm @bob:example.org", ErrNotACommand, false, ""},
		"no slash":             {"federation dm @bob:example.org", ErrNotACommand, false, ""},
		"command later":        {"please /federation dm @bob:example.org", ErrNotACommand, false, ""},
		"no subcommand":        {"/federation", ErrUsage, false, "missing subcommand"},
		"no subcommand spaces": {"/federation   ", ErrUsage, false, "missing subcommand"},
		"unknown subcommand":   {"/federation invite @bob:example.org", ErrUsage, false, `unknown subcommand "invite"`},
		"no users":             {"/federation dm", ErrUsage, false, "no users named"},
		"no users spaces":      {"/federation dm   \n", ErrUsage, false, "no users named"},
		"bad id":               {"/federation dm @Bob:example.org", ErrUsage, true, `user 1, "@Bob:example.org": upper-case 'B'`},
		"second id bad":        {"/federation dm @bob:example.org bob", ErrUsage, true, `user 2, "bob": does not start with '@'`},
		"unbracketed ipv6":     {"/federation dm @bob:::1", ErrUsage, true, "without brackets"},
		"comma separated":      {"/federation dm @a:x.org,@b:y.org", ErrUsage, true, `',' is not allowed`},
		"trailing comma":       {"/federation dm @a:x.org, @b:y.org", ErrUsage, true, `',' is not allowed`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCommand(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want %v", tc.in, got, err, tc.want)
			}
			if errors.Is(err, ids.ErrInvalidUserID) != tc.badID {
				t.Errorf("errors.Is(%v, ErrInvalidUserID) = %v, want %v", err, !tc.badID, tc.badID)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.message)
			}
			if tc.want == ErrUsage && !strings.HasSuffix(err.Error(), "(usage: "+Usage+")") {
				t.Errorf("message %q does not end with the usage", err.Error())
			}
			if !reflect.DeepEqual(got, DMRequest{}) {
				t.Errorf("got %+v with the error, want the zero DMRequest", got)
			}
		})
	}
}

func ExampleParseCommand() {
	req, err := ParseCommand("/federation dm @bob:example.org   @carol:chat.example.com:8448 @bob:example.org")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("group:", req.Group)
	for _, u := range req.Users {
		fmt.Println("with", u)
	}
	fmt.Println("ignored repeats:", req.Duplicates)

	_, err = ParseCommand("/federation dm")
	fmt.Println(err)
	// Output:
	// group: true
	// with @bob:example.org
	// with @carol:chat.example.com:8448
	// ignored repeats: [@bob:example.org]
	// invites: bad /federation command: no users named (usage: /federation dm @user:server [@user:server ...])
}
