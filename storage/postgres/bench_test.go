package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// BenchmarkWriteRoom stores one event per WriteRoom, each extending the
// room's one chain and queued for one destination: the inbound /send path.
func BenchmarkWriteRoom(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	const rid = "!bench:t"
	if _, err := s.WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: "10"}}); err != nil {
		b.Fatal(err)
	}
	prev := []string(nil)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("$e%d", i)
		if _, err := s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{
			Event: event(rid, id, prev...), Extremity: true, Destinations: []string{"d.example"},
		}}}); err != nil {
			b.Fatal(err)
		}
		prev = []string{id}
	}
}

// benchStore opens a Store on a new database of its own.
func benchStore(b *testing.B) *Store {
	b.Helper()
	return openDSN(b, freshDB(b))
}

// BenchmarkWriteRoomParallel has goroutines write to rooms of their own,
// which take different locks and so run side by side.
func BenchmarkWriteRoomParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var rooms atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rid := fmt.Sprintf("!bench%d:t", rooms.Add(1))
		if _, err := s.WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: "10"}}); err != nil {
			b.Error(err)
			return
		}
		prev := []string(nil)
		for i := 0; pb.Next(); i++ {
			id := fmt.Sprintf("$%s-%d", rid, i)
			if _, err := s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{
				Event: event(rid, id, prev...), Extremity: true,
			}}}); err != nil {
				b.Error(err)
				return
			}
			prev = []string{id}
		}
	})
}
