// Package mediatest is the conformance suite of media.Store: every media
// store (media/fsstore, storage/postgres) runs Run from its own tests, so
// the contract written on media.Store is checked the same way for each.
//
// It imports media and the standard library only.
package mediatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/media"
)

// BlobCounter is implemented by stores that can say how many distinct
// blobs (content-addressed byte strings, thumbnails included) they hold.
// When a store implements it, Run also checks that a failed Put leaves no
// blob behind and that the same bytes are kept once.
type BlobCounter interface {
	CountBlobs(ctx context.Context) (int, error)
}

// BigSize is the size of the streamed file in the big-file test.
const BigSize = 60 << 20

// Run runs the conformance suite; newStore returns a new, empty store for
// each subtest (closing it with t.Cleanup if it needs closing).
func Run(t *testing.T, newStore func(t *testing.T) media.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("BigStreamedFile", func(t *testing.T) { testBig(t, newStore(t)) })
	t.Run("LimitExceededLeavesNothing", func(t *testing.T) { testLimit(t, newStore(t)) })
	t.Run("FailedReaderLeavesNothing", func(t *testing.T) { testFailedReader(t, newStore(t)) })
	t.Run("SameBytesStoredOnce", func(t *testing.T) { testDedup(t, newStore(t)) })
	t.Run("Immutable", func(t *testing.T) { testImmutable(t, newStore(t)) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("Thumbnails", func(t *testing.T) { testThumbnails(t, newStore(t)) })
	t.Run("HostileKeys", func(t *testing.T) { testHostile(t, newStore(t)) })
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readAll opens media and returns its bytes and Meta.
func readAll(t *testing.T, st media.Store, server, id string) ([]byte, media.Meta) {
	t.Helper()
	rc, m, err := st.Open(t.Context(), server, id)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", server, id, err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s/%s: %v", server, id, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("closing %s/%s: %v", server, id, err)
	}
	return b, m
}

func wantNotFound(t *testing.T, st media.Store, server, id string) {
	t.Helper()
	rc, m, err := st.Open(t.Context(), server, id)
	if err == nil {
		rc.Close()
		t.Fatalf("Open(%s, %s) found %+v, want ErrNotFound", server, id, m)
	}
	if !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("Open(%s, %s) = %v, want ErrNotFound", server, id, err)
	}
}

func blobs(t *testing.T, st media.Store) (int, bool) {
	t.Helper()
	bc, ok := st.(BlobCounter)
	if !ok {
		return 0, false
	}
	n, err := bc.CountBlobs(t.Context())
	if err != nil {
		t.Fatalf("CountBlobs: %v", err)
	}
	return n, true
}

func testRoundTrip(t *testing.T, st media.Store) {
	content := []byte("the quick brown fox, as a PNG would be")
	in := media.Meta{Server: "example.org:8448", MediaID: "abcDEF_123-", ContentType: "text/plain", FileName: "fox ü.txt",
		Size: 999, SHA256: "ignored"}
	got, err := st.Put(t.Context(), in, bytes.NewReader(content), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != int64(len(content)) || got.SHA256 != sum(content) || got.CreatedTS == 0 ||
		got.Server != in.Server || got.MediaID != in.MediaID || got.ContentType != in.ContentType || got.FileName != in.FileName {
		t.Fatalf("Put = %+v", got)
	}
	b, m := readAll(t, st, in.Server, in.MediaID)
	if !bytes.Equal(b, content) || m != got {
		t.Fatalf("Open = %q %+v, want %q %+v", b, m, content, got)
	}

	// A caller's CreatedTS is kept; empty content is media too.
	got, err = st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "empty", CreatedTS: 1234}, bytes.NewReader(nil), 10)
	if err != nil || got.CreatedTS != 1234 || got.Size != 0 || got.SHA256 != sum(nil) {
		t.Fatalf("Put(empty) = %+v, %v", got, err)
	}
	b, m = readAll(t, st, "example.org", "empty")
	if len(b) != 0 || m != got {
		t.Fatalf("Open(empty) = %q %+v", b, m)
	}
	// Exactly the limit is allowed.
	if _, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "exact"}, bytes.NewReader(content), int64(len(content))); err != nil {
		t.Fatalf("Put of exactly the limit: %v", err)
	}
}

// generator yields n pseudo-random bytes without holding them, hashing
// what it gives out.
type generator struct {
	left  int64
	state uint64
	h     hash.Hash
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.state ^= g.state << 13
		g.state ^= g.state >> 7
		g.state ^= g.state << 17
		p[i] = byte(g.state)
	}
	g.left -= int64(len(p))
	g.h.Write(p)
	return len(p), nil
}

func testBig(t *testing.T, st media.Store) {
	gen := &generator{left: BigSize, state: 42, h: sha256.New()}
	var m media.Meta
	var err error
	peak := peakHeapGrowth(func() {
		m, err = st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "big", ContentType: "application/octet-stream"}, gen, BigSize)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(gen.h.Sum(nil))
	if m.Size != BigSize || m.SHA256 != want {
		t.Fatalf("Put(big) = %+v, want size %d sha %s", m, BigSize, want)
	}
	// Streamed: the heap never grew by anything near the file's size. The
	// bound is half the file: a store that buffers it grows by all of it
	// (or more), while GC lag, the race detector and tests running beside
	// this one in the same process can add a few chunks' worth.
	if peak > BigSize/2 {
		t.Errorf("Put of %d MiB grew the heap by %d MiB: not streamed", BigSize>>20, peak>>20)
	}
	rc, om, err := st.Open(t.Context(), "example.org", "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	var n int64
	peak = peakHeapGrowth(func() { n, err = io.Copy(h, rc) })
	if err != nil || n != BigSize || hex.EncodeToString(h.Sum(nil)) != want || om != m {
		t.Fatalf("Open(big): %d bytes, %v, meta %+v", n, err, om)
	}
	if peak > BigSize/2 {
		t.Errorf("reading %d MiB grew the heap by %d MiB: not streamed", BigSize>>20, peak>>20)
	}
}

// peakHeapGrowth runs fn and returns by how much the heap in use grew
// above its level before fn, at the highest of samples taken every
// millisecond while fn ran. (Total allocations would count garbage a
// driver makes and drops per chunk, which is not holding the file.)
func peakHeapGrowth(fn func()) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var s runtime.MemStats
			runtime.ReadMemStats(&s)
			if s.HeapInuse > base && s.HeapInuse-base > peak {
				peak = s.HeapInuse - base
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	<-sampled
	return peak
}

func testLimit(t *testing.T, st media.Store) {
	before, counted := blobs(t, st)
	big := &generator{left: 5 << 20, state: 7, h: sha256.New()}
	_, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "over"}, big, 1<<20)
	if !errors.Is(err, media.ErrTooLarge) {
		t.Fatalf("Put over the limit = %v, want ErrTooLarge", err)
	}
	wantNotFound(t, st, "example.org", "over")
	if _, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "over1"}, bytes.NewReader(make([]byte, 11)), 10); !errors.Is(err, media.ErrTooLarge) {
		t.Fatalf("Put one byte over = %v, want ErrTooLarge", err)
	}
	if after, _ := blobs(t, st); counted && after != before {
		t.Fatalf("blobs: %d before, %d after a refused Put", before, after)
	}
	// Nothing was reserved: the ID is free.
	if _, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "over"}, bytes.NewReader([]byte("ok")), 10); err != nil {
		t.Fatalf("Put after a refused Put: %v", err)
	}
}

type failingReader struct{ n int }

var errBroken = errors.New("mediatest: connection reset")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func testFailedReader(t *testing.T, st media.Store) {
	before, counted := blobs(t, st)
	_, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "broken"}, &failingReader{n: 100 << 10}, 1<<20)
	if !errors.Is(err, errBroken) {
		t.Fatalf("Put from a failing reader = %v, want its error wrapped", err)
	}
	wantNotFound(t, st, "example.org", "broken")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := st.Put(ctx, media.Meta{Server: "example.org", MediaID: "cancelled"}, bytes.NewReader([]byte("x")), 10); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	wantNotFound(t, st, "example.org", "cancelled")
	if after, _ := blobs(t, st); counted && after != before {
		t.Fatalf("blobs: %d before, %d after failed Puts", before, after)
	}
}

func testDedup(t *testing.T, st media.Store) {
	content := bytes.Repeat([]byte("same bytes "), 1000)
	before, counted := blobs(t, st)
	a, err := st.Put(t.Context(), media.Meta{Server: "a.example", MediaID: "one", FileName: "a.txt"}, bytes.NewReader(content), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Put(t.Context(), media.Meta{Server: "b.example", MediaID: "two", FileName: "b.txt"}, bytes.NewReader(content), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != b.SHA256 {
		t.Fatalf("same bytes, different hashes: %s %s", a.SHA256, b.SHA256)
	}
	if after, _ := blobs(t, st); counted && after != before+1 {
		t.Fatalf("blobs: %d before, %d after the same bytes twice; want one more", before, after)
	}
	for _, k := range [][2]string{{"a.example", "one"}, {"b.example", "two"}} {
		got, m := readAll(t, st, k[0], k[1])
		if !bytes.Equal(got, content) || m.Server != k[0] || m.MediaID != k[1] {
			t.Fatalf("Open(%s) = %d bytes, %+v", k, len(got), m)
		}
	}
	if _, m := readAll(t, st, "b.example", "two"); m.FileName != "b.txt" {
		t.Fatalf("each media keeps its own metadata: %+v", m)
	}
}

func testImmutable(t *testing.T, st media.Store) {
	first, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "x", ContentType: "text/plain"}, bytes.NewReader([]byte("first")), 100)
	if err != nil {
		t.Fatal(err)
	}
	before, counted := blobs(t, st)
	_, err = st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "x", ContentType: "image/png"}, bytes.NewReader([]byte("second")), 100)
	if !errors.Is(err, media.ErrExists) {
		t.Fatalf("second Put of one media ID = %v, want ErrExists", err)
	}
	if b, m := readAll(t, st, "example.org", "x"); string(b) != "first" || m != first {
		t.Fatalf("after a refused overwrite: %q %+v", b, m)
	}
	if after, _ := blobs(t, st); counted && after != before {
		t.Fatalf("blobs: %d before, %d after a refused overwrite", before, after)
	}
	// The same ID on another server is other media.
	if _, err := st.Put(t.Context(), media.Meta{Server: "other.org", MediaID: "x"}, bytes.NewReader([]byte("other")), 100); err != nil {
		t.Fatal(err)
	}
}

func testConcurrent(t *testing.T, st media.Store) {
	const n = 8
	var wg sync.WaitGroup
	metas := make([]media.Meta, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			content := bytes.Repeat([]byte(fmt.Sprintf("writer %d ", i)), 20000)
			metas[i], errs[i] = st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "contended"}, bytes.NewReader(content), 1<<20)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Put %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, media.ErrExists):
			t.Fatalf("Put %d = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent Put won")
	}
	if b, m := readAll(t, st, "example.org", "contended"); m != metas[winner] || sum(b) != m.SHA256 {
		t.Fatalf("Open = %+v (bytes %s), want the winner %+v", m, sum(b), metas[winner])
	}

	// Concurrent puts of the same bytes under different IDs all succeed.
	content := bytes.Repeat([]byte("shared "), 50000)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: fmt.Sprintf("shared%d", i)}, bytes.NewReader(content), 1<<20)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put shared%d: %v", i, err)
		}
		if b, _ := readAll(t, st, "example.org", fmt.Sprintf("shared%d", i)); !bytes.Equal(b, content) {
			t.Fatalf("shared%d: wrong bytes", i)
		}
	}
}

func testNotFound(t *testing.T, st media.Store) {
	wantNotFound(t, st, "example.org", "nothing")
	spec := media.ThumbnailSpec{Width: 32, Height: 32}
	if _, _, err := st.OpenThumbnail(t.Context(), "example.org", "nothing", spec); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("OpenThumbnail(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := st.PutThumbnail(t.Context(), "example.org", "nothing", spec, "image/png", bytes.NewReader([]byte("png")), 100); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("PutThumbnail(unknown media) = %v, want ErrNotFound", err)
	}
	if _, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "something"}, bytes.NewReader([]byte("x")), 10); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, st, "example.org", "Something") // media IDs are case-sensitive
	wantNotFound(t, st, "other.example.org", "something")
}

func testThumbnails(t *testing.T, st media.Store) {
	ctx := t.Context()
	if _, err := st.Put(ctx, media.Meta{Server: "example.org", MediaID: "pic", ContentType: "image/png"}, bytes.NewReader([]byte("original")), 100); err != nil {
		t.Fatal(err)
	}
	specs := []media.ThumbnailSpec{
		{Width: 32, Height: 32, Method: media.MethodCrop},
		{Width: 32, Height: 32, Method: media.MethodScale},
		{Width: 64, Height: 32, Method: media.MethodCrop},
	}
	for i, s := range specs {
		m, err := st.PutThumbnail(ctx, "example.org", "pic", s, "image/jpeg", bytes.NewReader([]byte(fmt.Sprintf("thumb %d", i))), 100)
		if err != nil {
			t.Fatalf("PutThumbnail(%+v): %v", s, err)
		}
		if m.ContentType != "image/jpeg" || m.Size != int64(len(fmt.Sprintf("thumb %d", i))) || m.Server != "example.org" || m.MediaID != "pic" {
			t.Fatalf("PutThumbnail = %+v", m)
		}
	}
	open := func(s media.ThumbnailSpec) (string, error) {
		rc, _, err := st.OpenThumbnail(ctx, "example.org", "pic", s)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	for i, s := range specs {
		if got, err := open(s); err != nil || got != fmt.Sprintf("thumb %d", i) {
			t.Fatalf("OpenThumbnail(%+v) = %q, %v", s, got, err)
		}
	}
	// The default method is scale.
	if got, err := open(media.ThumbnailSpec{Width: 32, Height: 32}); err != nil || got != "thumb 1" {
		t.Fatalf("OpenThumbnail(default method) = %q, %v; want the scale one", got, err)
	}
	if _, err := open(media.ThumbnailSpec{Width: 33, Height: 32}); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("OpenThumbnail(other size) = %v, want ErrNotFound", err)
	}
	// A new thumbnail for the same spec replaces the old one.
	if _, err := st.PutThumbnail(ctx, "example.org", "pic", specs[0], "image/png", bytes.NewReader([]byte("new")), 100); err != nil {
		t.Fatal(err)
	}
	if got, err := open(specs[0]); err != nil || got != "new" {
		t.Fatalf("after a replace: %q, %v", got, err)
	}
	// Over the limit: refused, the stored one stays.
	if _, err := st.PutThumbnail(ctx, "example.org", "pic", specs[0], "image/png", bytes.NewReader(make([]byte, 101)), 100); !errors.Is(err, media.ErrTooLarge) {
		t.Fatalf("PutThumbnail over the limit = %v, want ErrTooLarge", err)
	}
	if got, err := open(specs[0]); err != nil || got != "new" {
		t.Fatalf("after a refused replace: %q, %v", got, err)
	}
	if _, err := st.PutThumbnail(ctx, "example.org", "pic", media.ThumbnailSpec{Width: 0, Height: 5}, "image/png", bytes.NewReader(nil), 100); !errors.Is(err, media.ErrBadThumbnailSpec) {
		t.Fatalf("PutThumbnail(bad spec) = %v, want ErrBadThumbnailSpec", err)
	}
	// The original is untouched.
	if b, _ := readAll(t, st, "example.org", "pic"); string(b) != "original" {
		t.Fatalf("original after thumbnails: %q", b)
	}
}

func testHostile(t *testing.T, st media.Store) {
	ctx := t.Context()
	keys := map[string][2]string{
		"dot dot id":        {"example.org", ".."},
		"traversal id":      {"example.org", "../../etc/passwd"},
		"slash id":          {"example.org", "a/b"},
		"backslash id":      {"example.org", `a\b`},
		"dotted id":         {"example.org", "a.json"},
		"empty id":          {"example.org", ""},
		"nul id":            {"example.org", "a\x00b"},
		"long id":           {"example.org", string(bytes.Repeat([]byte("a"), 256))},
		"dot dot server":    {"..", "abc"},
		"traversal server":  {"../../tmp", "abc"},
		"slash server":      {"a/b", "abc"},
		"empty server":      {"", "abc"},
		"newline in server": {"a\nb", "abc"},
		"unicode id":        {"example.org", "é"},
	}
	for name, k := range keys {
		t.Run(name, func(t *testing.T) {
			if _, err := st.Put(ctx, media.Meta{Server: k[0], MediaID: k[1]}, bytes.NewReader([]byte("x")), 10); !errors.Is(err, media.ErrInvalidMXC) {
				t.Fatalf("Put(%q, %q) = %v, want ErrInvalidMXC", k[0], k[1], err)
			}
			if _, _, err := st.Open(ctx, k[0], k[1]); !errors.Is(err, media.ErrInvalidMXC) {
				t.Fatalf("Open(%q, %q) = %v, want ErrInvalidMXC", k[0], k[1], err)
			}
			spec := media.ThumbnailSpec{Width: 8, Height: 8}
			if _, err := st.PutThumbnail(ctx, k[0], k[1], spec, "image/png", bytes.NewReader([]byte("x")), 10); !errors.Is(err, media.ErrInvalidMXC) {
				t.Fatalf("PutThumbnail(%q, %q) = %v, want ErrInvalidMXC", k[0], k[1], err)
			}
			if _, _, err := st.OpenThumbnail(ctx, k[0], k[1], spec); !errors.Is(err, media.ErrInvalidMXC) {
				t.Fatalf("OpenThumbnail(%q, %q) = %v, want ErrInvalidMXC", k[0], k[1], err)
			}
		})
	}
}
