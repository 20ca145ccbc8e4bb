package fsstore_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/embedmatrix/homeserver/media"
	"github.com/embedmatrix/homeserver/media/fsstore"
)

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	st, err := fsstore.New(fsstore.DirFor(filepath.Join(dir, "matrix.db")))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	id := media.NewMediaID()
	m, err := st.Put(ctx, media.Meta{Server: "chat.example.com", MediaID: id, ContentType: "text/plain", FileName: "hi.txt"},
		strings.NewReader("hello"), 50<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	rc, _, _ := st.Open(ctx, "chat.example.com", id)
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Println(m.Size, m.SHA256[:8], string(b))
	// Output: 5 2cf24dba hello
}
