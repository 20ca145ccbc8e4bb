package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a Matrix error answer: an HTTP status with an errcode and a
// human-readable message, written as {"errcode","error"}.
type Error struct {
	Status  int
	ErrCode string
	Message string
	// Extra fields added to the JSON body (e.g. room_version).
	Extra map[string]any
}

// Error formats the status, errcode and message.
func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.ErrCode, e.Message) }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, ErrCode: code, Message: fmt.Sprintf(format, args...)}
}

// Matrix error codes used by the federation API.
const (
	CodeUnauthorized    = "M_UNAUTHORIZED"
	CodeForbidden       = "M_FORBIDDEN"
	CodeNotFound        = "M_NOT_FOUND"
	CodeBadJSON         = "M_BAD_JSON"
	CodeNotJSON         = "M_NOT_JSON"
	CodeTooLarge        = "M_TOO_LARGE"
	CodeUnrecognized    = "M_UNRECOGNIZED"
	CodeUnknown         = "M_UNKNOWN"
	CodeMissingParam    = "M_MISSING_PARAM"
	CodeInvalidParam    = "M_INVALID_PARAM"
	CodeIncompatibleVer = "M_INCOMPATIBLE_ROOM_VERSION"
	CodeUnsupportedVer  = "M_UNSUPPORTED_ROOM_VERSION"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"errcode":"M_UNKNOWN","error":"could not encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, err error) {
	var me *Error
	if !errors.As(err, &me) {
		me = &Error{Status: http.StatusInternalServerError, ErrCode: CodeUnknown, Message: "internal error"}
	}
	body := map[string]any{"errcode": me.ErrCode, "error": me.Message}
	for k, v := range me.Extra {
		body[k] = v
	}
	writeJSON(w, me.Status, body)
}
