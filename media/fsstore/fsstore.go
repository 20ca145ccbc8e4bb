// Package fsstore is the default media.Store: a folder on the local disk,
// by default next to the SQLite database (DirFor).
//
// Layout under the folder:
//
//	blobs/ab/ab12...ef       the bytes, named by their SHA-256 (content-addressed:
//	                         the same bytes are kept once, whoever uploaded them)
//	meta/<server>/<id>.json  one small JSON file per media: its Meta
//	thumbs/<server>/<id>/<w>x<h>-<method>.json  one per stored thumbnail
//	tmp/                     files being written
//
// Every file is written to tmp/, fsynced, then renamed (blobs, thumbnail
// metadata) or hard-linked (media metadata, so that of two writers of one
// media ID exactly one wins) into place, and the folder is fsynced: a
// crash leaves either the whole file or nothing visible. The index is JSON
// files rather than a SQLite table so that the store needs nothing but a
// file system, shares the atomic write path of the blobs, and lets several
// processes on one disk use the folder without a second database lock.
// Server names are written with ':' as '+' (never in a valid server name),
// and every key passes media.CheckKey before it becomes a path.
//
// fsstore imports media and the standard library only.
package fsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/media"
)

// DirFor returns the default media folder for a SQLite database file:
// the database path with ".media" appended.
func DirFor(databasePath string) string {
	return databasePath + ".media"
}

// Store is a media.Store in a folder. It is safe for concurrent use, also
// by several processes sharing the folder.
type Store struct {
	dir string
}

var (
	_ media.Store = (*Store)(nil)
)

// maxMetaFile bounds what is read of a metadata file.
const maxMetaFile = 64 << 10

// staleTemp is how old a file in tmp/ must be for New to remove it: a
// writer crashed.
const staleTemp = time.Hour

// New opens (creating it if needed) the media folder dir.
func New(dir string) (*Store, error) {
	for _, sub := range []string{"blobs", "meta", "thumbs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("fsstore: create %s: %w", sub, err)
		}
	}
	s := &Store{dir: dir}
	s.removeStaleTemps()
	return s, nil
}

// Dir returns the store's folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) removeStaleTemps() {
	entries, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(s.dir, "tmp", e.Name()))
		}
	}
}

func serverDir(server string) string { return strings.ReplaceAll(server, ":", "+") }

func (s *Store) metaPath(server, id string) string {
	return filepath.Join(s.dir, "meta", serverDir(server), id+".json")
}

func (s *Store) thumbPath(server, id string, spec media.ThumbnailSpec) string {
	return filepath.Join(s.dir, "thumbs", serverDir(server), id, fmt.Sprintf("%dx%d-%s.json", spec.Width, spec.Height, spec.Method))
}

func (s *Store) blobPath(sha string) string {
	return filepath.Join(s.dir, "blobs", sha[:2], sha)
}

// metaFile is the JSON form of a metadata file.
type metaFile struct {
	Server      string `json:"server"`
	MediaID     string `json:"media_id"`
	ContentType string `json:"content_type,omitempty"`
	FileName    string `json:"file_name,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	CreatedTS   int64  `json:"created_ts"`
}

// Put implements media.Store.
func (s *Store) Put(ctx context.Context, m media.Meta, r io.Reader, limit int64) (media.Meta, error) {
	if err := media.CheckKey(m.Server, m.MediaID); err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: put: %w", err)
	}
	path := s.metaPath(m.Server, m.MediaID)
	if _, err := os.Lstat(path); err == nil {
		return media.Meta{}, fmt.Errorf("fsstore: put %s: %w", media.MXC(m.Server, m.MediaID), media.ErrExists)
	}
	size, sha, err := s.writeBlob(ctx, r, limit)
	if err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: put %s: %w", media.MXC(m.Server, m.MediaID), err)
	}
	m.Size, m.SHA256 = size, sha
	if m.CreatedTS == 0 {
		m.CreatedTS = time.Now().UnixMilli()
	}
	if err := ctx.Err(); err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: put: %w", err)
	}
	// Link, not rename: of two writers of one media ID, the second fails
	// with EEXIST. (Its blob, if its bytes differ, stays unreferenced.)
	if err := s.writeFile(path, metaFile(m), false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return media.Meta{}, fmt.Errorf("fsstore: put %s: %w", media.MXC(m.Server, m.MediaID), media.ErrExists)
		}
		return media.Meta{}, fmt.Errorf("fsstore: put %s: %w", media.MXC(m.Server, m.MediaID), err)
	}
	return m, nil
}

// Open implements media.Store.
func (s *Store) Open(ctx context.Context, server, mediaID string) (io.ReadCloser, media.Meta, error) {
	if err := media.CheckKey(server, mediaID); err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: open: %w", err)
	}
	return s.open(ctx, s.metaPath(server, mediaID), media.MXC(server, mediaID))
}

// PutThumbnail implements media.Store.
func (s *Store) PutThumbnail(ctx context.Context, server, mediaID string, spec media.ThumbnailSpec, contentType string, r io.Reader, limit int64) (media.Meta, error) {
	if err := media.CheckKey(server, mediaID); err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: put thumbnail: %w", err)
	}
	spec, err := spec.Normalize()
	if err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: put thumbnail: %w", err)
	}
	what := media.MXC(server, mediaID)
	if _, err := os.Lstat(s.metaPath(server, mediaID)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return media.Meta{}, fmt.Errorf("fsstore: thumbnail of %s: %w", what, media.ErrNotFound)
		}
		return media.Meta{}, fmt.Errorf("fsstore: thumbnail of %s: %w", what, err)
	}
	size, sha, err := s.writeBlob(ctx, r, limit)
	if err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: thumbnail of %s: %w", what, err)
	}
	m := media.Meta{Server: server, MediaID: mediaID, ContentType: contentType, Size: size, SHA256: sha, CreatedTS: time.Now().UnixMilli()}
	path := s.thumbPath(server, mediaID, spec)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: thumbnail of %s: %w", what, err)
	}
	if err := s.writeFile(path, metaFile(m), true); err != nil {
		return media.Meta{}, fmt.Errorf("fsstore: thumbnail of %s: %w", what, err)
	}
	return m, nil
}

// OpenThumbnail implements media.Store.
func (s *Store) OpenThumbnail(ctx context.Context, server, mediaID string, spec media.ThumbnailSpec) (io.ReadCloser, media.Meta, error) {
	if err := media.CheckKey(server, mediaID); err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: open thumbnail: %w", err)
	}
	spec, err := spec.Normalize()
	if err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: open thumbnail: %w", err)
	}
	return s.open(ctx, s.thumbPath(server, mediaID, spec), "thumbnail of "+media.MXC(server, mediaID))
}

// CountBlobs returns how many distinct blobs the folder holds (for
// mediatest.BlobCounter and for operators).
func (s *Store) CountBlobs(ctx context.Context) (int, error) {
	n := 0
	err := filepath.WalkDir(filepath.Join(s.dir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("fsstore: count blobs: %w", err)
	}
	return n, nil
}

func (s *Store) open(ctx context.Context, path, what string) (io.ReadCloser, media.Meta, error) {
	if err := ctx.Err(); err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: open %s: %w", what, err)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, media.Meta{}, fmt.Errorf("fsstore: open %s: %w", what, media.ErrNotFound)
		}
		return nil, media.Meta{}, fmt.Errorf("fsstore: open %s: %w", what, err)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxMetaFile))
	f.Close()
	if err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: read metadata of %s: %w", what, err)
	}
	var mf metaFile
	if err := json.Unmarshal(raw, &mf); err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: metadata of %s: %w", what, err)
	}
	if !validSHA(mf.SHA256) {
		return nil, media.Meta{}, fmt.Errorf("fsstore: metadata of %s: bad sha256 %q", what, mf.SHA256)
	}
	blob, err := os.Open(s.blobPath(mf.SHA256))
	if err != nil {
		return nil, media.Meta{}, fmt.Errorf("fsstore: blob of %s: %w", what, err)
	}
	return blob, media.Meta(mf), nil
}

func validSHA(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// ctxReader fails a copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeBlob streams r (at most limit bytes) into a temp file, hashing it,
// and moves it to its content address. On error nothing is left.
func (s *Store) writeBlob(ctx context.Context, r io.Reader, limit int64) (size int64, sha string, err error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-*")
	if err != nil {
		return 0, "", err
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	if limit < 0 {
		limit = 0
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return 0, "", fmt.Errorf("write: %w", err)
	}
	if n > limit {
		return 0, "", fmt.Errorf("%w: over %d bytes", media.ErrTooLarge, limit)
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", fmt.Errorf("fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, "", fmt.Errorf("close: %w", err)
	}
	tmp = nil
	sha = hex.EncodeToString(h.Sum(nil))
	dst := s.blobPath(sha)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(tmpName) // stored already: content-addressed
		return n, sha, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return 0, "", err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return 0, "", fmt.Errorf("rename blob: %w", err)
	}
	syncDir(filepath.Dir(dst))
	return n, sha, nil
}

// writeFile writes v as JSON to path atomically: a temp file, fsynced,
// then renamed over path (replace) or hard-linked to it (failing with
// fs.ErrExist when path exists).
func (s *Store) writeFile(path string, v any, replace bool) (err error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "meta-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link or a failure; a no-op after a rename
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmpName, path)
	} else {
		err = os.Link(tmpName, path)
	}
	if err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir fsyncs a folder so a rename or link in it survives a crash.
// Best effort: some systems cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
