package homeserver_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/gorilla/mux"
)

// A host mounts the homeserver beside its own routes on a gorilla/mux
// router. (A real host serves the router over HTTPS on its public name.)
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	hs, err := homeserver.New(context.Background(), homeserver.Config{
		ServerName:   "chat.example.com",
		DatabasePath: filepath.Join(dir, "matrix.db"),
		Hooks: homeserver.Hooks{
			OnMessage: func(_ context.Context, m homeserver.Message) {
				fmt.Printf("%s in %s: %s\n", m.Sender, m.RoomID, m.Body)
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer hs.Close()

	router := mux.NewRouter()
	router.HandleFunc("/api/ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "pong") })
	hs.RegisterRoutes(router)

	for _, path := range []string{"/api/ping", "/.well-known/matrix/server", "/_matrix/federation/v1/nope"} {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, rec.Code, rec.Body.String())
	}
	alice, _ := hs.UserID("alice")
	fmt.Println(alice)
	// Output:
	// /api/ping 200 pong
	// /.well-known/matrix/server 200 {"m.server":"chat.example.com"}
	// /_matrix/federation/v1/nope 404 {"errcode":"M_UNRECOGNIZED","error":"unrecognized request"}
	// @alice:chat.example.com
}

// A host's user writes, edits, reacts to and deletes messages; Messages
// shows each message as it stands: its latest edit, reactions, deletion.
func ExampleServer_Edit() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	hs, err := homeserver.New(ctx, homeserver.Config{ServerName: "chat.example.com", DatabasePath: filepath.Join(dir, "matrix.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer hs.Close()

	room, _ := hs.CreateRoom(ctx, homeserver.CreateRoomRequest{Creator: "alice", Name: "General"})
	hello, _ := hs.Send(ctx, room, "alice", homeserver.MessageContent{Body: "helo", FormattedBody: "<b>helo</b>"})
	_, _ = hs.Edit(ctx, room, "alice", hello, homeserver.MessageContent{Body: "hello", FormattedBody: "<b>hello</b>"})
	_, _ = hs.React(ctx, room, "alice", hello, "👍")
	if _, err := hs.React(ctx, room, "alice", hello, "👍"); errors.Is(err, homeserver.ErrDuplicateAnnotation) {
		fmt.Println("a second 👍 is refused")
	}
	_, _ = hs.Send(ctx, room, "alice", homeserver.MessageContent{Body: "welcome!", ReplyTo: hello})
	oops, _ := hs.SendMessage(ctx, room, "alice", "oops")
	_, _ = hs.Redact(ctx, room, "alice", oops, "typo")

	msgs, _ := hs.Messages(ctx, room, 0, 10)
	for _, m := range msgs {
		switch {
		case m.Deleted:
			fmt.Println("(message deleted)")
		case m.ReplyTo == hello:
			fmt.Println("reply:", m.Body)
		default:
			fmt.Println(m.Body, m.FormattedBody, "edited:", m.Edited, m.Reactions)
		}
	}
	// Output:
	// a second 👍 is refused
	// hello <b>hello</b> edited: true [{👍 1 [@alice:chat.example.com]}]
	// reply: welcome!
	// (message deleted)
}
