package content

// Redaction is the content of an m.room.redaction: Redacts is the target
// from room version 11 on ("" before, where it is a top-level key).
type Redaction struct {
	Redacts string
	Reason  string
}

// ParseRedaction reads an m.room.redaction content; wrong-typed fields
// read as "".
func ParseRedaction(raw []byte) (Redaction, error) {
	m, err := objectFields(raw)
	if err != nil {
		return Redaction{}, err
	}
	return Redaction{Redacts: fieldString(m, "redacts"), Reason: fieldString(m, "reason")}, nil
}
