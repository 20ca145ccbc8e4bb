package content

// Member is the content of an m.room.member event.
// https://spec.matrix.org/v1.16/client-server-api/#mroommember
type Member struct {
	// Membership is "invite", "join", "knock", "leave" or "ban" ("" when
	// absent).
	Membership string
	// Reason is the reason given for a kick, ban, leave or invite.
	Reason string
	// IsDirect marks the invite of a direct chat.
	IsDirect bool
	// DisplayName and AvatarURL are the user's profile in the room.
	DisplayName string
	AvatarURL   string
}

// ParseMember parses an m.room.member content.
func ParseMember(raw []byte) (Member, error) {
	m, err := objectFields(raw)
	if err != nil {
		return Member{}, err
	}
	return Member{
		Membership: fieldString(m, "membership"), Reason: fieldString(m, "reason"),
		IsDirect: fieldBool(m, "is_direct"), DisplayName: fieldString(m, "displayname"),
		AvatarURL: fieldString(m, "avatar_url"),
	}, nil
}

// MemberOf parses the content of an m.room.member event's JSON; a
// malformed event reads as the zero Member (no membership).
func MemberOf(eventJSON []byte) Member {
	m, _ := ParseMember(Of(eventJSON))
	return m
}
