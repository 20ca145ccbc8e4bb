package invites

import (
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func TestClassify(t *testing.T) {
	cases := map[string]struct {
		prev, next, sender, target string
		want                       Change
	}{
		"invited":              {"", "invite", "@a:x", "@b:y", ChangeInvite},
		"accepted":             {"invite", "join", "@b:y", "@b:y", ChangeJoin},
		"joined a public room": {"", "join", "@b:y", "@b:y", ChangeJoin},
		"rejected":             {"invite", "leave", "@b:y", "@b:y", ChangeInviteReject},
		"revoked":              {"invite", "leave", "@a:x", "@b:y", ChangeInviteRevoke},
		"left":                 {"join", "leave", "@b:y", "@b:y", ChangeLeave},
		"kicked":               {"join", "leave", "@a:x", "@b:y", ChangeKick},
		"banned":               {"join", "ban", "@a:x", "@b:y", ChangeBan},
		"unbanned":             {"ban", "leave", "@a:x", "@b:y", ChangeUnban},
		"profile change":       {"join", "join", "@b:y", "@b:y", ChangeProfileUpdate},
		"knock passes through": {"", "knock", "@b:y", "@b:y", Change("knock")},
		"knocked":              {"", "knock", "@b:y", "@b:y", ChangeKnock},
		"knocked again":        {"leave", "knock", "@b:y", "@b:y", ChangeKnock},
		"knock accepted":       {"knock", "invite", "@a:x", "@b:y", ChangeKnockAccepted},
		"knock refused":        {"knock", "leave", "@a:x", "@b:y", ChangeKnockRefused},
		"knock retracted":      {"knock", "leave", "@b:y", "@b:y", ChangeKnockRetracted},
		"knocker banned":       {"knock", "ban", "@a:x", "@b:y", ChangeBan},
		"knocker joins":        {"knock", "join", "@b:y", "@b:y", ChangeJoin},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Classify(c.prev, c.next, c.sender, c.target); got != c.want {
				t.Fatalf("Classify = %s, want %s", got, c.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	cases := map[string]struct {
		state  string
		change Change
		want   string
		moved  bool
	}{
		"accept":                {storage.InvitePending, ChangeJoin, storage.InviteAccepted, true},
		"reject":                {storage.InvitePending, ChangeInviteReject, storage.InviteRejected, true},
		"revoke":                {storage.InvitePending, ChangeInviteRevoke, storage.InviteRevoked, true},
		"ban while pending":     {storage.InvitePending, ChangeBan, storage.InviteRevoked, true},
		"re-invite stays":       {storage.InvitePending, ChangeInvite, storage.InvitePending, false},
		"accepted is final":     {storage.InviteAccepted, ChangeInviteRevoke, storage.InviteAccepted, false},
		"rejected is final":     {storage.InviteRejected, ChangeJoin, storage.InviteRejected, false},
		"revoked is final":      {storage.InviteRevoked, ChangeJoin, storage.InviteRevoked, false},
		"leave without invite?": {storage.InvitePending, ChangeLeave, storage.InvitePending, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, moved := Next(c.state, c.change)
			if got != c.want || moved != c.moved {
				t.Fatalf("Next = %s %v, want %s %v", got, moved, c.want, c.moved)
			}
		})
	}
}
