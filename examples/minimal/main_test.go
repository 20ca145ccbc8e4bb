package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/embedmatrix/homeserver/internal/selfsigned"
	"github.com/gorilla/mux"
)

// syncBuffer is a log destination safe for the hook goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns a loopback address nobody listens on: the server
// names here are addresses, so a name is needed before the server runs.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveTLS serves h on addr with a self-signed certificate until the
// test ends.
func serveTLS(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := selfsigned.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { srv.Close() })
}

// The host keeps its routes, gains the homeserver's, and logs a message
// a user on another Matrix server sends.
func TestMinimal(t *testing.T) {
	ctx := context.Background()
	var logs syncBuffer
	logger := log.New(&logs, "", 0)

	r := mux.NewRouter()
	r.HandleFunc("/api/health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	name := freeAddr(t)
	hs, err := mountMatrix(ctx, r, name, filepath.Join(t.TempDir(), "minimal.db"), true, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	serveTLS(t, name, r)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for path, want := range map[string]string{
		"/api/health":                "ok",
		"/.well-known/matrix/server": `{"m.server":"` + name + `"}`,
		"/_matrix/key/v2/server":     `"server_name":"` + name + `"`,
	} {
		res, err := client.Get("https://" + name + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %s, want %s", path, res.StatusCode, body, want)
		}
	}

	// A second homeserver: its user invites ours, ours joins, it speaks.
	peer, err := homeserver.New(ctx, homeserver.Config{
		ServerName: freeAddr(t), DatabasePath: filepath.Join(t.TempDir(), "peer.db"), InsecureSkipVerify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	serveTLS(t, peer.ServerName(), peer.Handler())

	room, err := peer.CreateRoom(ctx, homeserver.CreateRoomRequest{Creator: "pat", Kind: homeserver.KindDM, Invite: []string{"@sam:" + name}})
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.AcceptInvite(ctx, room, "sam"); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.SendMessage(ctx, room, "pat", "hello from the peer"); err != nil {
		t.Fatal(err)
	}
	want := "matrix: @pat:" + peer.ServerName() + " in " + room + ": hello from the peer"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log has no %q:\n%s", want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
