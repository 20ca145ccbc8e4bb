package homeserver

import (
	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// acceptedRoute is how one event type's accepted events reach the host.
type acceptedRoute struct {
	// handle queues the work for one accepted event. It runs inside the
	// rooms engine, so it must not block: it pushes onto s.hooks.
	handle func(s *Server, a rooms.Accepted)
	// local is true when events this server made go to handle too (the
	// invite lifecycle follows local membership changes); hooks report
	// remote events only.
	local bool
}

// acceptedRoutes maps an event type to its handler; each handler lives in
// its feature's file. A new event type is one line here.
var acceptedRoutes = map[string]acceptedRoute{
	spec.MRoomMember:      {handle: (*Server).onMemberOrKnockAccepted, local: true}, // invite_api.go, knock.go
	"m.room.message":      {handle: (*Server).onMessageAccepted},                    // messages.go (edits: relations.go)
	"m.reaction":          {handle: (*Server).onReactionAccepted},                   // relations.go
	spec.MRoomRedaction:   {handle: (*Server).onRedactionAccepted},                  // redact.go
	spec.MRoomName:        {handle: (*Server).onNameAccepted},                       // summary.go
	spec.MRoomTopic:       {handle: (*Server).onTopicAccepted},                      // summary.go
	spec.MRoomPowerLevels: {handle: (*Server).onPowerLevelsAccepted},                // moderation.go
}

// onAccepted turns accepted events into host hooks (rooms.Config's
// OnAccepted). Events re-accepted from history are not reported; event
// types without a route go to the catch-all (Hooks.OnEvent).
func (s *Server) onAccepted(a rooms.Accepted) {
	if a.Historical {
		return
	}
	route, ok := acceptedRoutes[a.Event.Type()]
	if !ok {
		route = acceptedRoute{handle: (*Server).onOtherAccepted} // sendevent.go
	}
	if a.Local && !route.local {
		return
	}
	route.handle(s, a)
}

// memberContent parses an m.room.member content; a malformed one reads as
// the zero Member.
func memberContent(raw []byte) content.Member {
	m, _ := content.ParseMember(raw)
	return m
}
