package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	homeserver "github.com/embedmatrix/homeserver"
)

// apiError is an error answer of the JSON API: {"errcode","error"} with an
// HTTP status. Extra fields (such as the room_id of a room created before
// an invite failed) are added to the body.
type apiError struct {
	Status  int
	ErrCode string
	Message string
	Extra   map[string]any
}

func (e *apiError) Error() string { return e.ErrCode + ": " + e.Message }

func apiErr(status int, code, msg string) *apiError {
	return &apiError{Status: status, ErrCode: code, Message: msg}
}

// Matrix error codes the API answers with.
const (
	codeForbidden    = "M_FORBIDDEN"
	codeNotFound     = "M_NOT_FOUND"
	codeNotJSON      = "M_NOT_JSON"
	codeBadJSON      = "M_BAD_JSON"
	codeMissingParam = "M_MISSING_PARAM"
	codeInvalidParam = "M_INVALID_PARAM"
	codeMissingToken = "M_MISSING_TOKEN"
	codeUnknownToken = "M_UNKNOWN_TOKEN"
	codeUnrecognized = "M_UNRECOGNIZED"
	codeTooLarge     = "M_TOO_LARGE"
	codeUnknown      = "M_UNKNOWN"
	codeUnsupported  = "M_UNSUPPORTED_ROOM_VERSION"
	codeDuplicate    = "M_DUPLICATE_ANNOTATION"
	codeRoomInUse    = "M_ROOM_IN_USE"
)

// errorOf turns what the homeserver (or chatd) returned into an API error.
// The library's sentinel errors decide the status; a refusal by another
// server is passed on with its own status and errcode; a server that
// cannot be reached is a 502.
func errorOf(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	msg := err.Error()
	// Forbidden comes first: an edit of another user's message matches
	// both ErrInvalidEdit and ErrForbidden, and is a 403.
	switch {
	case errors.Is(err, homeserver.ErrBanned),
		errors.Is(err, homeserver.ErrForbidden),
		errors.Is(err, homeserver.ErrNotInviter),
		errors.Is(err, homeserver.ErrNotJoined),
		errors.Is(err, homeserver.ErrRoleNotAllowed),
		errors.Is(err, homeserver.ErrNotKnockable):
		return apiErr(http.StatusForbidden, codeForbidden, msg)
	// https://spec.matrix.org/v1.16/client-server-api/#put_matrixclientv3directoryroomroomalias
	// (409 when the alias names a room already).
	case errors.Is(err, homeserver.ErrAliasTaken):
		return apiErr(http.StatusConflict, codeRoomInUse, msg)
	case errors.Is(err, homeserver.ErrDuplicateAnnotation):
		return apiErr(http.StatusBadRequest, codeDuplicate, msg)
	case errors.Is(err, homeserver.ErrUnknownRoom),
		errors.Is(err, homeserver.ErrUnknownEvent),
		errors.Is(err, homeserver.ErrNotInvited),
		errors.Is(err, homeserver.ErrUnknownAlias),
		errors.Is(err, homeserver.ErrNotKnocking):
		return apiErr(http.StatusNotFound, codeNotFound, msg)
	case errors.Is(err, homeserver.ErrInvalidUserID),
		errors.Is(err, homeserver.ErrUnsupportedRoomType),
		errors.Is(err, homeserver.ErrNotACommand),
		errors.Is(err, homeserver.ErrUsage),
		errors.Is(err, homeserver.ErrUnknownRole),
		errors.Is(err, homeserver.ErrInvalidEdit),
		errors.Is(err, homeserver.ErrInvalidContent),
		errors.Is(err, homeserver.ErrInvalidReaction),
		errors.Is(err, homeserver.ErrInvalidThreadRoot),
		errors.Is(err, homeserver.ErrEventTypeNotAllowed),
		errors.Is(err, homeserver.ErrInvalidAlias),
		errors.Is(err, homeserver.ErrInvalidPresence),
		errors.Is(err, homeserver.ErrInvalidJoinRule),
		errors.Is(err, homeserver.ErrInvalidPageToken):
		return apiErr(http.StatusBadRequest, codeInvalidParam, msg)
	case errors.Is(err, homeserver.ErrUnsupportedRoomVersion):
		return apiErr(http.StatusBadRequest, codeUnsupported, msg)
	}
	var remote *homeserver.RemoteError
	if errors.As(err, &remote) {
		if remote.Status >= 400 && remote.Status < 500 && strings.HasPrefix(remote.ErrCode, "M_") {
			return apiErr(remote.Status, remote.ErrCode, "the other server refused: "+remote.Message)
		}
		return apiErr(http.StatusBadGateway, codeUnknown, "the other server failed: "+msg)
	}
	if errors.Is(err, homeserver.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		return apiErr(http.StatusBadGateway, codeUnknown, "could not reach the other server: "+msg)
	}
	return apiErr(http.StatusInternalServerError, codeUnknown, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"errcode":"M_UNKNOWN","error":"could not encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, err error) {
	e := errorOf(err)
	body := map[string]any{}
	for k, v := range e.Extra {
		body[k] = v
	}
	body["errcode"] = e.ErrCode
	body["error"] = e.Message
	writeJSON(w, e.Status, body)
}
