// Package storetest is the conformance suite for storage.Store: it states
// the contract written in the storage package's doc comments as tests.
// Every Store backend runs Run from its own tests, and RunPersistence when
// it keeps data across Close and a new open of the same place.
//
// The suite treats event JSON and queue payloads as opaque bytes; it never
// asks the store to parse them.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// Run runs the conformance suite against the stores newStore returns, one
// fresh, empty store per subtest. The suite closes every store it is given
// (through t.Cleanup), so newStore need not arrange that itself.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	open := func(t *testing.T) storage.Store {
		t.Helper()
		s := newStore(t)
		if s == nil {
			t.Fatal("newStore returned nil")
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, open) })
	t.Run("RemoteKeys", func(t *testing.T) { testRemoteKeys(t, open) })
	t.Run("Rooms", func(t *testing.T) { testRooms(t, open) })
	t.Run("WriteRoom", func(t *testing.T) { testWriteRoom(t, open) })
	t.Run("State", func(t *testing.T) { testState(t, open) })
	t.Run("Extremities", func(t *testing.T) { testExtremities(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("RoomEvents", func(t *testing.T) { testRoomEvents(t, open) })
	t.Run("EventsByTime", func(t *testing.T) { testEventsByTime(t, open) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, open) })
	t.Run("RoomState", func(t *testing.T) { testRoomState(t, open) })
	t.Run("ParkedEvents", func(t *testing.T) { testParked(t, open) })
	t.Run("OutlierPlaced", func(t *testing.T) { testOutlierPlaced(t, open) })
	t.Run("ResetExtremities", func(t *testing.T) { testResetExtremities(t, open) })
	t.Run("Invites", func(t *testing.T) { testInvites(t, open) })
	t.Run("Queue", func(t *testing.T) { testQueue(t, open) })
	t.Run("InboundTransactions", func(t *testing.T) { testInbound(t, open) })
	t.Run("Receipts", func(t *testing.T) { testReceipts(t, open) })
	t.Run("Relations", func(t *testing.T) { testRelations(t, open) })
	t.Run("Redactions", func(t *testing.T) { testRedactions(t, open) })
	t.Run("Redact", func(t *testing.T) { testRedact(t, open) })
	t.Run("QueueRedact", func(t *testing.T) { testQueueRedact(t, open) })
	t.Run("Profiles", func(t *testing.T) { testProfiles(t, open) })
	t.Run("Aliases", func(t *testing.T) { testAliases(t, open) })
	t.Run("Published", func(t *testing.T) { testPublished(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
}

// opener returns a fresh store that the suite closes at the end of t.
type opener func(t *testing.T) storage.Store

// ctx returns the context the suite passes to the store.
func ctx(t *testing.T) context.Context { return t.Context() }

// mustNotFound fails t unless err matches storage.ErrNotFound.
func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want one matching storage.ErrNotFound", what)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("%s: got error %v, want one matching storage.ErrNotFound", what, err)
	}
}

// mustOK fails t if err is not nil.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eqStrings fails t unless got and want hold the same strings in the same
// order (nil and empty are equal).
func eqStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// eqBytesList fails t unless got and want hold equal byte slices in order.
func eqBytesList(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("%s: got %s, want %s", what, quoteAll(got), quoteAll(want))
	}
}

func quoteAll(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}
