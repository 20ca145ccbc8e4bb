package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/postgres"
)

// ExampleOpen opens the store several homeserver processes share: each
// process calls Open with the same DSN; the first migrates the schema and
// the others wait for it. The example has no output check, as it needs a
// PostgreSQL server.
func ExampleOpen() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://hs:secret@db.internal:5432/homeserver?sslmode=verify-full&pool_max_conns=16")
	if errors.Is(err, postgres.ErrSchemaTooNew) {
		log.Fatal("a newer homeserver build has migrated this database; upgrade this one")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if _, err := s.Room(ctx, "!unknown:example.org"); errors.Is(err, storage.ErrNotFound) {
		fmt.Println("no such room")
	}
}
