package homeserver_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	homeserver "github.com/embedmatrix/homeserver"
)

// A host makes a space, puts a room in it with an m.space.child state
// event (other servers then see both through /hierarchy), and gives the
// space an alias, later removed along with the canonical alias naming it.
func ExampleServer_CreateRoom_space() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	hs, err := homeserver.New(ctx, homeserver.Config{ServerName: "chat.example.com", DatabasePath: filepath.Join(dir, "matrix.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer hs.Close()

	space, err := hs.CreateRoom(ctx, homeserver.CreateRoomRequest{Creator: "alice", Name: "Team", Public: true, Type: homeserver.RoomTypeSpace})
	if err != nil {
		log.Fatal(err)
	}
	general, err := hs.CreateRoom(ctx, homeserver.CreateRoomRequest{Creator: "alice", Name: "General", Public: true})
	if err != nil {
		log.Fatal(err)
	}
	link := []byte(`{"via":["chat.example.com"],"suggested":true}`)
	if _, err := hs.SendEvent(ctx, space, "alice", "m.space.child", &general, link); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alias:", hs.SetAlias(ctx, space, "alice", "#team:chat.example.com"))
	fmt.Println("removed:", hs.RemoveAliasAs(ctx, "#team:chat.example.com", "alice"))
	// Output:
	// alias: <nil>
	// removed: <nil>
}
