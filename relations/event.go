package relations

// Event is what the rules need of a stored event.
type Event struct {
	EventID string
	RoomID  string
	Type    string
	Sender  string
	// IsState is true when the event has a state_key (of any value, "" included).
	IsState        bool
	OriginServerTS int64
	// StreamPos is the event's position in our store's stream (arrival order).
	StreamPos int64
	// Content is the raw content JSON.
	Content []byte
	// Redacts is, for an m.room.redaction, the event it redacts: the
	// top-level redacts key before room version 11, content.redacts from
	// 11. The caller fills it, as it knows the room version.
	Redacts string
}

// Event types the rules look at.
const (
	TypeMessage   = "m.room.message"
	TypeReaction  = "m.reaction"
	TypeRedaction = "m.room.redaction"
)
