package postgres

import (
	"bytes"
	"testing"

	"github.com/embedmatrix/homeserver/media"
	"github.com/embedmatrix/homeserver/media/mediatest"
)

var _ mediatest.BlobCounter = (*MediaStore)(nil)

func TestMediaConformance(t *testing.T) {
	t.Parallel()
	mediatest.Run(t, func(t *testing.T) media.Store {
		return openFresh(t).Media()
	})
}

// TestMediaNoOrphanChunks: after refused, failed and duplicate Puts, every
// chunk belongs to a registered blob.
func TestMediaNoOrphanChunks(t *testing.T) {
	t.Parallel()
	s := openFresh(t)
	ms := s.Media()
	ctx := t.Context()
	content := bytes.Repeat([]byte("chunked "), 300000) // 2.3 MiB: three chunks
	for _, id := range []string{"a", "b"} {
		if _, err := ms.Put(ctx, media.Meta{Server: "example.org", MediaID: id}, bytes.NewReader(content), 10<<20); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ms.Put(ctx, media.Meta{Server: "example.org", MediaID: "c"}, bytes.NewReader(content), 1<<20); err == nil {
		t.Fatal("Put over the limit succeeded")
	}
	var orphans, chunks int
	if err := s.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE b.blob_id IS NULL), count(*)
		FROM media_chunks c LEFT JOIN media_blobs b ON b.blob_id = c.blob_id`).Scan(&orphans, &chunks); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || chunks != 3 {
		t.Fatalf("chunks: %d orphans of %d, want 0 of 3", orphans, chunks)
	}
}

// BenchmarkMediaPut stores distinct 16 MiB files in 1 MiB chunks.
func BenchmarkMediaPut(b *testing.B) {
	s := openDSN(b, freshDB(b))
	ms := s.Media()
	content := bytes.Repeat([]byte{1}, 16<<20)
	b.SetBytes(int64(len(content)))
	i := 0
	for b.Loop() {
		i++
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16) // distinct bytes: no dedup
		if _, err := ms.Put(b.Context(), media.Meta{Server: "example.org", MediaID: media.NewMediaID()}, bytes.NewReader(content), int64(len(content))); err != nil {
			b.Fatal(err)
		}
	}
}
