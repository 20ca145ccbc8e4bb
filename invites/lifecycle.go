package invites

import "github.com/embedmatrix/homeserver/storage"

// Change names what a membership event did, as the host sees it.
type Change string

// Membership changes.
const (
	ChangeInvite        Change = "invite"
	ChangeJoin          Change = "join"
	ChangeLeave         Change = "leave"
	ChangeKick          Change = "kick"
	ChangeBan           Change = "ban"
	ChangeUnban         Change = "unban"
	ChangeInviteReject  Change = "invite_rejected"
	ChangeInviteRevoke  Change = "invite_revoked"
	ChangeProfileUpdate Change = "profile"
	// Knocking (room versions 7+).
	ChangeKnock          Change = "knock"           // a request to be invited
	ChangeKnockAccepted  Change = "knock_accepted"  // knock -> invite
	ChangeKnockRefused   Change = "knock_refused"   // knock -> leave, by someone else
	ChangeKnockRetracted Change = "knock_retracted" // knock -> leave, by the knocker
)

// Classify says what a membership event did, given the target's previous
// membership ("" when none), the new one, and who sent it.
//
//	invite -> join                      join (the invite is accepted)
//	invite -> leave, by the invitee     invite_rejected
//	invite -> leave, by someone else    invite_revoked
//	ban    -> leave                     unban
//	*      -> leave, by someone else    kick
//	*      -> ban                       ban
//	join   -> join                      profile (display name or avatar)
//	*      -> knock                     knock
//	knock  -> invite                    knock_accepted
//	knock  -> leave, by the knocker     knock_retracted
//	knock  -> leave, by someone else    knock_refused
//
// https://spec.matrix.org/v1.16/client-server-api/#knocking-on-rooms
func Classify(prev, next, sender, target string) Change {
	switch next {
	case "knock":
		return ChangeKnock
	case "invite":
		if prev == "knock" {
			return ChangeKnockAccepted
		}
		return ChangeInvite
	case "join":
		if prev == "join" {
			return ChangeProfileUpdate
		}
		return ChangeJoin
	case "ban":
		return ChangeBan
	case "leave":
		switch {
		case prev == "ban":
			return ChangeUnban
		case prev == "invite" && sender == target:
			return ChangeInviteReject
		case prev == "invite":
			return ChangeInviteRevoke
		case prev == "knock" && sender == target:
			return ChangeKnockRetracted
		case prev == "knock":
			return ChangeKnockRefused
		case sender != target:
			return ChangeKick
		}
		return ChangeLeave
	}
	return Change(next)
}

// Next returns the state a pending invite moves to after a membership
// change of its invitee, and whether it moves at all. Only pending invites
// move: pending -> accepted | rejected | revoked.
func Next(state string, change Change) (string, bool) {
	if state != storage.InvitePending {
		return state, false
	}
	switch change {
	case ChangeJoin:
		return storage.InviteAccepted, true
	case ChangeInviteReject:
		return storage.InviteRejected, true
	case ChangeInviteRevoke, ChangeBan, ChangeKick:
		return storage.InviteRevoked, true
	}
	return state, false
}
