package homeserver

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkInboundSend measures inbound /send end to end on B: X-Matrix
// verification, PDU parsing, signature checks, auth against the state before
// and the current state, persistence in SQLite, over real HTTPS on
// loopback. One op is one transaction of 50 PDUs; pdus/s is the figure.
func BenchmarkInboundSend(b *testing.B) {
	for _, rooms := range []int{1, 100} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			benchmarkSend(b, rooms)
		})
	}
}

func benchmarkSend(b *testing.B, nRooms int) {
	n := newNetwork()
	pa := newPeer(b, n, "hs-a.test", benchHooks())
	pb := newPeer(b, n, "hs-b.test", benchHooks())
	ctx := context.Background()
	roomIDs := make([]string, nRooms)
	for i := range roomIDs {
		roomID, err := pa.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := pb.srv.JoinRoom(ctx, roomID, "bob", []string{"hs-a.test"}); err != nil {
			b.Fatal(err)
		}
		roomIDs[i] = roomID
	}
	// A builds the messages but does not send them: the benchmark does.
	pa.srv.sender.Close()
	total := b.N * 50
	pdus := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		roomID := roomIDs[i%nRooms]
		id, err := pa.srv.SendMessage(ctx, roomID, "alice", fmt.Sprintf("m%d", i))
		if err != nil {
			b.Fatal(err)
		}
		ev, err := pa.srv.store.Event(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		pdus = append(pdus, ev.JSON)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := pa.srv.client.SendTransaction(ctx, "hs-b.test", fmt.Sprintf("bench-%d", i), pdus[i*50:(i+1)*50], nil)
		if err != nil {
			b.Fatal(err)
		}
		for id, r := range res.PDUs {
			if r.Error != "" {
				b.Fatalf("%s refused: %s", id, r.Error)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pdus/s")
	b.ReportMetric(0, "ns/op")
}

// benchHooks gives a benchmark's peer a host that takes messages, invites
// and memberships and drops them: nobody reads the channels, which would
// fill and stall the hooks.
func benchHooks() peerOption {
	return withHooks(func(h *Hooks) {
		*h = Hooks{
			OnMessage:    func(context.Context, Message) {},
			OnInvite:     func(context.Context, Invite) {},
			OnMembership: func(context.Context, Membership) {},
		}
	})
}
