package invites

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/embedmatrix/homeserver/ids"
)

// Usage is the syntax of the host command ParseCommand understands, for a
// help text.
const Usage = "/federation dm @user:server [@user:server ...]"

// Sentinel errors of ParseCommand.
var (
	// ErrNotACommand: the text is not a /federation command at all; the
	// host should treat it as something else (a message, another command).
	ErrNotACommand = errors.New("invites: not a /federation command")
	// ErrUsage: the text is a /federation command but a malformed one
	// (unknown subcommand, no users, a bad user ID). The error message
	// says what is wrong and ends with Usage.
	ErrUsage = errors.New("invites: bad /federation command")
)

// usageError is ErrUsage with what went wrong and, for a bad user ID, the
// *UserIDError (so errors.Is(err, ErrInvalidUserID) holds as well).
type usageError struct {
	msg   string
	cause error
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v: %s (usage: %s)", ErrUsage, e.msg, Usage)
}

func (e *usageError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUsage}
	}
	return []error{ErrUsage, e.cause}
}

// DMRequest is a parsed /federation dm command: the users to open a direct
// chat with, besides the host user who typed it.
type DMRequest struct {
	// Users are the distinct users named, in the order first named.
	Users []ids.UserID
	// Group is true when Users has more than one user: a group DM rather
	// than a 1:1 DM.
	Group bool
	// Duplicates are the arguments dropped because they repeat a user
	// already in Users, in the order they appeared, so the host can say
	// so. Repeats are compared exactly, as Matrix compares user IDs.
	Duplicates []ids.UserID
}

// ParseCommand parses the host command
//
//	/federation dm @a:s1 [@b:s2 ...]
//
// One distinct user asks for a 1:1 DM, several for a group DM. Repeated
// users are dropped (listed in DMRequest.Duplicates). Any run of white
// space separates words, and white space before and after the command is
// ignored; "/federation" and "dm" are matched without regard to case, user
// IDs exactly (an upper-case localpart is an error, see ParseUserID).
//
// Errors: ErrNotACommand when the first word is not "/federation";
// ErrUsage when the subcommand is missing or unknown, no user is named,
// or a user ID is invalid (then ErrInvalidUserID matches too, and
// errors.As finds the *UserIDError).
//
// ParseCommand knows nothing of the host's users: whether the list names
// the sender or users of this server is for the caller to decide.
func ParseCommand(text string) (DMRequest, error) {
	words := strings.Fields(text)
	if len(words) == 0 || !strings.EqualFold(words[0], "/federation") {
		return DMRequest{}, ErrNotACommand
	}
	if len(words) == 1 {
		return DMRequest{}, &usageError{msg: "missing subcommand"}
	}
	if sub := words[1]; !strings.EqualFold(sub, "dm") {
		return DMRequest{}, &usageError{msg: fmt.Sprintf("unknown subcommand %s", quoteShort(sub))}
	}
	args := words[2:]
	if len(args) == 0 {
		return DMRequest{}, &usageError{msg: "no users named"}
	}
	var req DMRequest
	seen := make(map[ids.UserID]bool, len(args))
	for i, arg := range args {
		u, err := ids.ParseUserID(arg)
		if err != nil {
			reason := err.Error()
			var idErr *ids.UserIDError
			if errors.As(err, &idErr) {
				reason = idErr.Reason
			}
			return DMRequest{}, &usageError{
				msg:   fmt.Sprintf("user %d, %s: %s", i+1, quoteShort(arg), reason),
				cause: err,
			}
		}
		if seen[u] {
			req.Duplicates = append(req.Duplicates, u)
			continue
		}
		seen[u] = true
		req.Users = append(req.Users, u)
	}
	req.Group = len(req.Users) > 1
	return req, nil
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}
