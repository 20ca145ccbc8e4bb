package content

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// ErrNotObject is matched (errors.Is) by the error of a parser given
// something other than a JSON object.
var ErrNotObject = errors.New("content: not a JSON object")

// objectFields splits a JSON object into its members. An empty input (an
// absent content) is an empty object.
func objectFields(raw []byte) (map[string]json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
	}
	return m, nil
}

// fieldString is the string value of a member, "" when it is absent or
// not a JSON string.
func fieldString(m map[string]json.RawMessage, key string) string {
	raw, ok := m[key]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// fieldStringPtr is fieldString that tells an absent or non-string member
// (nil) from an empty string.
func fieldStringPtr(m map[string]json.RawMessage, key string) *string {
	raw, ok := m[key]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return &s
}

// fieldBool reads a member as a flag: JSON true, a non-zero number, or a
// string strconv.ParseBool reads as true. Anything else is false.
func fieldBool(m map[string]json.RawMessage, key string) bool {
	raw, ok := m[key]
	if !ok {
		return false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch v := v.(type) {
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

// fieldStrings reads a member that should be an array of strings, keeping
// the string elements.
func fieldStrings(m map[string]json.RawMessage, key string) []string {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil
	}
	var out []string
	for _, e := range elems {
		var s string
		if len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}
