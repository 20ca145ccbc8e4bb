// Command twoservers runs two embedded homeservers in one process, each
// behind its own self-signed HTTPS listener on 127.0.0.1, and walks them
// through the basic federation flow: alice on A creates a channel and
// invites bob on B; bob accepts; they exchange a message each way.
//
// It prints each step with its latency and exits 0 only if everything
// arrived within 10 seconds.
//
//	go run ./examples/twoservers
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/embedmatrix/homeserver/internal/selfsigned"
)

const deadline = 10 * time.Second

// node is one embedded server and what its hooks reported.
type node struct {
	srv      *homeserver.Server
	http     *http.Server
	messages chan homeserver.Message
	invites  chan homeserver.Invite
	joins    chan homeserver.Membership
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("OK: everything arrived")
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "twoservers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	a, err := start(ctx, filepath.Join(dir, "a.db"))
	if err != nil {
		return err
	}
	defer a.close()
	b, err := start(ctx, filepath.Join(dir, "b.db"))
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Printf("server A: %s\nserver B: %s\n\n", a.srv.ServerName(), b.srv.ServerName())
	bob := "@bob:" + b.srv.ServerName()
	total := time.Now()

	var roomID string
	if err := step("alice creates a channel on A", func() error {
		roomID, err = a.srv.CreateRoom(ctx, homeserver.CreateRoomRequest{Creator: "alice", Name: "General", Topic: "Federated hello"})
		return err
	}); err != nil {
		return err
	}
	if err := step("alice invites "+bob+"; B's host is told", func() error {
		if err := a.srv.Invite(ctx, roomID, "alice", bob); err != nil {
			return err
		}
		return wait(b.invites, func(i homeserver.Invite) bool { return i.RoomID == roomID })
	}); err != nil {
		return err
	}
	if err := step("bob accepts (make_join + send_join); A sees the join", func() error {
		if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
			return err
		}
		return wait(a.joins, func(m homeserver.Membership) bool { return m.UserID == bob && m.Membership == "join" })
	}); err != nil {
		return err
	}
	if err := step("alice says hello; B's host gets it", func() error {
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", "hello bob"); err != nil {
			return err
		}
		return wait(b.messages, func(m homeserver.Message) bool { return m.Body == "hello bob" })
	}); err != nil {
		return err
	}
	if err := step("bob answers; A's host gets it", func() error {
		if _, err := b.srv.SendMessage(ctx, roomID, "bob", "hello alice"); err != nil {
			return err
		}
		return wait(a.messages, func(m homeserver.Message) bool { return m.Body == "hello alice" })
	}); err != nil {
		return err
	}
	if took := time.Since(total); took > deadline {
		return fmt.Errorf("the whole flow took %s, over %s", took, deadline)
	}
	fmt.Printf("\nroom %s, whole flow %s\n", roomID, time.Since(total).Round(time.Microsecond))
	return nil
}

// start runs one Server on a random loopback port with a self-signed
// certificate. Its server name is its address, so no resolver is needed.
func start(ctx context.Context, db string) (*node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &node{
		messages: make(chan homeserver.Message, 16),
		invites:  make(chan homeserver.Invite, 16),
		joins:    make(chan homeserver.Membership, 16),
	}
	n.srv, err = homeserver.New(ctx, homeserver.Config{
		ServerName:         ln.Addr().String(),
		DatabasePath:       db,
		InsecureSkipVerify: true, // the peers use self-signed certificates
		Hooks: homeserver.Hooks{
			OnMessage:    func(_ context.Context, m homeserver.Message) { n.messages <- m },
			OnInvite:     func(_ context.Context, i homeserver.Invite) { n.invites <- i },
			OnMembership: func(_ context.Context, m homeserver.Membership) { n.joins <- m },
		},
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	cert, err := selfsigned.Certificate()
	if err != nil {
		ln.Close()
		return nil, err
	}
	n.http = &http.Server{Handler: n.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go n.http.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	return n, nil
}

func (n *node) close() {
	n.http.Close()
	n.srv.Close()
}

func step(what string, f func() error) error {
	start := time.Now()
	if err := f(); err != nil {
		fmt.Printf("  FAIL %-58s %v\n", what, err)
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Printf("  ok   %-58s %8s\n", what, time.Since(start).Round(time.Microsecond))
	return nil
}

// wait reads ch until ok says yes or the deadline passes.
func wait[T any](ch <-chan T, ok func(T) bool) error {
	timeout := time.After(deadline)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("did not arrive within %s", deadline)
		}
	}
}
