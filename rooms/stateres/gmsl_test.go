package stateres

import (
	"fmt"
	"os"
	"sync"

	"github.com/matrix-org/gomatrixserverlib"
)

// stdoutMu serialises the stdout redirection below.
var stdoutMu sync.Mutex

// gmslResolve runs gomatrixserverlib's spec-correct resolver
// (ResolveConflictsNew, which calls ResolveStateConflictsV2New) on the
// same input as Resolve. That resolver panics on fewer than two sets and
// in several other places, and prints to stdout in the v2.1 path: the
// harness recovers the panic (reported as an error) and discards stdout.
// authEvents is every event it may need; gomatrixserverlib looks up both
// auth events and conflicted events in it.
func gmslResolve(version string, sets []StateMap, all []gomatrixserverlib.PDU) (out StateMap, err error) {
	byID := make(map[string]gomatrixserverlib.PDU, len(all))
	for _, ev := range all {
		byID[ev.EventID()] = ev
	}
	stateSets := make([][]gomatrixserverlib.PDU, len(sets))
	for i, s := range sets {
		for _, id := range s {
			if ev, ok := byID[id]; ok {
				stateSets[i] = append(stateSets[i], ev)
			}
		}
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	if devnull, oerr := os.OpenFile(os.DevNull, os.O_WRONLY, 0); oerr == nil {
		saved := os.Stdout
		os.Stdout = devnull
		defer func() {
			os.Stdout = saved
			_ = devnull.Close()
		}()
	}
	defer func() {
		if rec := recover(); rec != nil {
			out, err = nil, fmt.Errorf("gomatrixserverlib panicked: %v", rec)
		}
	}()
	resolved, err := gomatrixserverlib.ResolveConflictsNew(
		gomatrixserverlib.RoomVersion(version), stateSets, all, userIDForSender,
		func(string) bool { return false },
	)
	if err != nil {
		return nil, err
	}
	out = StateMap{}
	for _, ev := range resolved {
		if ev == nil || ev.StateKey() == nil {
			continue
		}
		out[StateKey{ev.Type(), *ev.StateKey()}] = ev.EventID()
	}
	return out, nil
}
