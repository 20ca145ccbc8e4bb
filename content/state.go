package content

import (
	"encoding/json"
	"fmt"
)

// KindKey marks the host's kind of a room ("channel", "dm", "group") in
// its create event's content: a namespaced key other servers ignore.
const KindKey = "io.embedmatrix.kind"

// Name is the content of an m.room.name event.
// https://spec.matrix.org/v1.16/client-server-api/#mroomname
type Name struct {
	Name string
}

// ParseName parses an m.room.name content.
func ParseName(raw []byte) (Name, error) {
	m, err := objectFields(raw)
	if err != nil {
		return Name{}, err
	}
	return Name{Name: fieldString(m, "name")}, nil
}

// Topic is the content of an m.room.topic event.
// https://spec.matrix.org/v1.16/client-server-api/#mroomtopic
type Topic struct {
	Topic string
}

// ParseTopic parses an m.room.topic content.
func ParseTopic(raw []byte) (Topic, error) {
	m, err := objectFields(raw)
	if err != nil {
		return Topic{}, err
	}
	return Topic{Topic: fieldString(m, "topic")}, nil
}

// Create is the content of an m.room.create event.
// https://spec.matrix.org/v1.16/client-server-api/#mroomcreate
type Create struct {
	// RoomVersion is "room_version" ("" means version 1).
	RoomVersion string
	// Type is the room type ("m.space", ...), "" for a plain room.
	Type string
	// AdditionalCreators are the creators besides the sender (room
	// version 12); non-string entries are skipped.
	AdditionalCreators []string
	// Kind is the host kind under KindKey, "" when the room was not made
	// by this library.
	Kind string
}

// ParseCreate parses an m.room.create content.
func ParseCreate(raw []byte) (Create, error) {
	m, err := objectFields(raw)
	if err != nil {
		return Create{}, err
	}
	return Create{
		RoomVersion: fieldString(m, "room_version"), Type: fieldString(m, "type"),
		AdditionalCreators: fieldStrings(m, "additional_creators"), Kind: fieldString(m, KindKey),
	}, nil
}

// ParseStrippedState parses the stripped room state of an invite (the
// invite_room_state array): one Event per element that is an object,
// in order. Elements that are not objects are skipped.
// https://spec.matrix.org/v1.16/client-server-api/#stripped-state
func ParseStrippedState(raw []byte) ([]Event, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("content: stripped state is not an array: %w", err)
	}
	out := make([]Event, 0, len(elems))
	for _, e := range elems {
		if ev, err := ParseEvent(e); err == nil {
			out = append(out, ev)
		}
	}
	return out, nil
}
