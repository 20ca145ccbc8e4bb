package fsstore_test

import (
	"bytes"
	"testing"

	"github.com/embedmatrix/homeserver/media"
	"github.com/embedmatrix/homeserver/media/fsstore"
)

// BenchmarkPut stores distinct 16 MiB files (temp file, fsync, rename).
func BenchmarkPut(b *testing.B) {
	st, err := fsstore.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	content := bytes.Repeat([]byte{1}, 16<<20)
	b.SetBytes(int64(len(content)))
	i := 0
	for b.Loop() {
		i++
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16) // distinct bytes: no dedup
		if _, err := st.Put(b.Context(), media.Meta{Server: "example.org", MediaID: media.NewMediaID()}, bytes.NewReader(content), int64(len(content))); err != nil {
			b.Fatal(err)
		}
	}
}
