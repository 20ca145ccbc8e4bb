package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// RemoteError is a refusal from another server: it answered, with a
// non-2xx status and (usually) a Matrix error.
type RemoteError struct {
	Server  spec.ServerName
	Status  int
	ErrCode string // e.g. "M_FORBIDDEN"; empty when the body was not a Matrix error
	Message string
}

// Error says who refused what.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("federation: %s answered %d %s: %s", e.Server, e.Status, e.ErrCode, e.Message)
}

// ErrUnreachable is returned (wrapped) when another server could not be
// reached or did not answer in time.
var ErrUnreachable = errors.New("federation: server unreachable")

// remoteError turns what the HTTP client returned into a *RemoteError or
// an error matching ErrUnreachable, keeping other errors as they are.
func remoteError(dest spec.ServerName, err error) error {
	if err == nil {
		return nil
	}
	var he gomatrix.HTTPError
	if errors.As(err, &he) {
		re := &RemoteError{Server: dest, Status: he.Code, Message: he.Message}
		var me gomatrix.RespError
		if errors.As(he.WrappedError, &me) {
			re.ErrCode, re.Message = me.ErrCode, me.Err
		}
		return re
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrUnreachable, dest, err)
}
