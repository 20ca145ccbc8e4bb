package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	homeserver "github.com/embedmatrix/homeserver"
)

// What the library returns decides the answer's status and errcode.
func TestErrorOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("homeserver: something: %w", err) }
	cases := map[string]struct {
		err     error
		status  int
		errcode string
	}{
		"banned":              {wrap(homeserver.ErrBanned), 403, "M_FORBIDDEN"},
		"auth rules":          {wrap(homeserver.ErrForbidden), 403, "M_FORBIDDEN"},
		"not the inviter":     {wrap(homeserver.ErrNotInviter), 403, "M_FORBIDDEN"},
		"not joined":          {wrap(homeserver.ErrNotJoined), 403, "M_FORBIDDEN"},
		"power levels":        {wrap(homeserver.ErrRoleNotAllowed), 403, "M_FORBIDDEN"},
		"unknown room":        {wrap(homeserver.ErrUnknownRoom), 404, "M_NOT_FOUND"},
		"unknown event":       {wrap(homeserver.ErrUnknownEvent), 404, "M_NOT_FOUND"},
		"no pending invite":   {wrap(homeserver.ErrNotInvited), 404, "M_NOT_FOUND"},
		"bad user ID":         {wrap(homeserver.ErrInvalidUserID), 400, "M_INVALID_PARAM"},
		"not a command":       {wrap(homeserver.ErrNotACommand), 400, "M_INVALID_PARAM"},
		"command usage":       {wrap(homeserver.ErrUsage), 400, "M_INVALID_PARAM"},
		"unknown role":        {wrap(homeserver.ErrUnknownRole), 400, "M_INVALID_PARAM"},
		"same reaction twice": {wrap(homeserver.ErrDuplicateAnnotation), 400, "M_DUPLICATE_ANNOTATION"},
		"invalid edit":        {wrap(homeserver.ErrInvalidEdit), 400, "M_INVALID_PARAM"},
		"edit of another user's message": {
			fmt.Errorf("%w: %w: not yours", homeserver.ErrForbidden, homeserver.ErrInvalidEdit), 403, "M_FORBIDDEN",
		},
		"redact without the power": {wrap(homeserver.ErrForbidden), 403, "M_FORBIDDEN"},
		"event type not allowed":   {wrap(homeserver.ErrEventTypeNotAllowed), 400, "M_INVALID_PARAM"},
		"invalid content":          {wrap(homeserver.ErrInvalidContent), 400, "M_INVALID_PARAM"},
		"invalid reaction":         {wrap(homeserver.ErrInvalidReaction), 400, "M_INVALID_PARAM"},
		"invalid thread root":      {wrap(homeserver.ErrInvalidThreadRoot), 400, "M_INVALID_PARAM"},
		"unsupported room type":    {homeserver.ErrUnsupportedRoomType, 400, "M_INVALID_PARAM"},
		"room version":             {wrap(homeserver.ErrUnsupportedRoomVersion), 400, "M_UNSUPPORTED_ROOM_VERSION"},
		"bad alias":                {wrap(homeserver.ErrInvalidAlias), 400, "M_INVALID_PARAM"},
		"alias taken":              {wrap(homeserver.ErrAliasTaken), 409, "M_ROOM_IN_USE"},
		"unknown alias":            {wrap(homeserver.ErrUnknownAlias), 404, "M_NOT_FOUND"},
		"unknown remote alias": {
			fmt.Errorf("%w: %w", homeserver.ErrUnknownAlias, &homeserver.RemoteError{Server: "b", Status: 404, ErrCode: "M_NOT_FOUND"}), 404, "M_NOT_FOUND",
		},
		"bad page token":     {wrap(homeserver.ErrInvalidPageToken), 400, "M_INVALID_PARAM"},
		"bad presence":       {wrap(homeserver.ErrInvalidPresence), 400, "M_INVALID_PARAM"},
		"not knockable":      {wrap(homeserver.ErrNotKnockable), 403, "M_FORBIDDEN"},
		"knock while banned": {fmt.Errorf("homeserver: knock: %w", homeserver.ErrBanned), 403, "M_FORBIDDEN"},
		"no pending knock":   {wrap(homeserver.ErrNotKnocking), 404, "M_NOT_FOUND"},
		"bad join rule":      {wrap(homeserver.ErrInvalidJoinRule), 400, "M_INVALID_PARAM"},
		"bad avatar":         {fmt.Errorf("%w: avatar is not an mxc:// URI", homeserver.ErrInvalidContent), 400, "M_INVALID_PARAM"},
		"the other server refuses": {
			wrap(&homeserver.RemoteError{Server: "b", Status: 403, ErrCode: "M_FORBIDDEN", Message: "no"}), 403, "M_FORBIDDEN",
		},
		"the other server does not know the room": {
			wrap(&homeserver.RemoteError{Server: "b", Status: 404, ErrCode: "M_NOT_FOUND", Message: "?"}), 404, "M_NOT_FOUND",
		},
		"the other server fails": {
			wrap(&homeserver.RemoteError{Server: "b", Status: 500, ErrCode: "M_UNKNOWN", Message: "oops"}), 502, "M_UNKNOWN",
		},
		"the other server answers nonsense": {
			wrap(&homeserver.RemoteError{Server: "b", Status: 400, Message: "<html>"}), 502, "M_UNKNOWN",
		},
		"the other server is down": {wrap(fmt.Errorf("%w: dial: refused", homeserver.ErrUnreachable)), 502, "M_UNKNOWN"},
		"the other server is slow": {wrap(context.DeadlineExceeded), 502, "M_UNKNOWN"},
		"anything else":            {errors.New("disk on fire"), 500, "M_UNKNOWN"},
		"chatd's own":              {apiErr(409, "M_X", "x"), 409, "M_X"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := errorOf(c.err)
			if got.Status != c.status || got.ErrCode != c.errcode || got.Message == "" {
				t.Fatalf("got %d %s %q, want %d %s", got.Status, got.ErrCode, got.Message, c.status, c.errcode)
			}
		})
	}
}
