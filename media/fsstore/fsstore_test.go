package fsstore_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/media"
	"github.com/embedmatrix/homeserver/media/fsstore"
	"github.com/embedmatrix/homeserver/media/mediatest"
)

func TestConformance(t *testing.T) {
	mediatest.Run(t, func(t *testing.T) media.Store {
		st, err := fsstore.New(filepath.Join(t.TempDir(), "hs.db.media"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

var _ mediatest.BlobCounter = (*fsstore.Store)(nil)

// files lists the regular files under dir, relative.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayoutAndNoLeftovers(t *testing.T) {
	dir := t.TempDir()
	st, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	m, err := st.Put(ctx, media.Meta{Server: "[::1]:8448", MediaID: "abc"}, bytes.NewReader([]byte("hello")), 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, media.Meta{Server: "[::1]:8448", MediaID: "big"}, bytes.NewReader(make([]byte, 11)), 10); !errors.Is(err, media.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	got := files(t, dir)
	want := []string{
		filepath.Join("blobs", m.SHA256[:2], m.SHA256),
		filepath.Join("meta", "[++1]+8448", "abc.json"),
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("files = %q, want %q (nothing in tmp/)", got, want)
	}
	if fsstore.DirFor("/var/lib/hs.db") != "/var/lib/hs.db.media" {
		t.Fatal("DirFor")
	}
}

func TestReopenSeesMedia(t *testing.T) {
	dir := t.TempDir()
	st, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(t.Context(), media.Meta{Server: "example.org", MediaID: "kept", ContentType: "text/plain"}, bytes.NewReader([]byte("kept")), 10); err != nil {
		t.Fatal(err)
	}
	// A stale temp file from a crashed writer is removed; a fresh one stays.
	stale := filepath.Join(dir, "tmp", "blob-stale")
	os.WriteFile(stale, []byte("x"), 0o600)
	old := mustTime(t, "2020-01-01T00:00:00Z")
	os.Chtimes(stale, old, old)
	st2, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	rc, m, err := st2.Open(t.Context(), "example.org", "kept")
	if err != nil || m.ContentType != "text/plain" || m.Size != 4 {
		t.Fatalf("reopened: %+v, %v", m, err)
	}
	rc.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale temp file still there: %v", err)
	}
}

// TestTamperedMetadata: a metadata file naming a path instead of a hash is
// refused, not followed.
func TestTamperedMetadata(t *testing.T) {
	dir := t.TempDir()
	st, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "meta", "example.org")
	os.MkdirAll(p, 0o750)
	os.WriteFile(filepath.Join(p, "evil.json"), []byte(`{"server":"example.org","media_id":"evil","sha256":"../../../../etc/passwd"}`), 0o600)
	if _, _, err := st.Open(t.Context(), "example.org", "evil"); err == nil {
		t.Fatal("Open followed a tampered sha256")
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
