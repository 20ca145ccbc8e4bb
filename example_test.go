package homeserver_test

import (
	"context"
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
