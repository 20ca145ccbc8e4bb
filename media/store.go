package media

import (
	"context"
	"fmt"
	"io"

	"github.com/embedmatrix/homeserver/ids"
)

// Meta describes stored media (or a stored thumbnail).
type Meta struct {
	// Server and MediaID name the media: mxc://Server/MediaID.
	Server  string
	MediaID string
	// ContentType is the checked content type; FileName the name the
	// uploader gave, possibly empty.
	ContentType string
	FileName    string
	// Size is the length in bytes and SHA256 the lowercase hex digest of
	// the bytes, both computed by the store while it wrote them.
	Size   int64
	SHA256 string
	// CreatedTS is when the media was stored, in Unix milliseconds; the
	// store sets it when the caller leaves it zero.
	CreatedTS int64
}

// Store holds media bytes and their metadata: local uploads and cached
// remote media alike, keyed by (server, media ID).
//
// The contract, which media/mediatest checks:
//   - Put streams: it never holds the whole content in memory. It computes
//     Size and SHA256 itself and ignores the caller's values.
//   - Put is atomic: when it returns an error (a failing reader, the limit
//     exceeded, a cancelled context), nothing is visible and nothing of the
//     bytes is left behind.
//   - Media is immutable: Put for a (server, media ID) that exists stores
//     nothing and returns an error matching ErrExists. Of concurrent Puts of
//     the same media, exactly one wins and every Open sees the winner.
//   - The same bytes stored under two media IDs are kept once.
//   - Server and media ID are checked with CheckKey: hostile values are
//     refused (ErrInvalidMXC), never used as paths.
//   - Open and OpenThumbnail return an error matching ErrNotFound for
//     unknown media; the caller closes the reader.
//   - Thumbnails are kept per (server, media ID, spec), for stored media
//     only; PutThumbnail replaces an earlier one with the same spec.
//
// A Store is safe for concurrent use, by several processes too when they
// share its backing (the same folder or database).
type Store interface {
	// Put stores the bytes of r, at most limit of them (ErrTooLarge
	// beyond), under m.Server and m.MediaID, and returns the stored Meta.
	Put(ctx context.Context, m Meta, r io.Reader, limit int64) (Meta, error)
	// Open returns the bytes and metadata of stored media.
	Open(ctx context.Context, server, mediaID string) (io.ReadCloser, Meta, error)
	// PutThumbnail stores a thumbnail of stored media made for spec, with
	// its content type, at most limit bytes.
	PutThumbnail(ctx context.Context, server, mediaID string, spec ThumbnailSpec, contentType string, r io.Reader, limit int64) (Meta, error)
	// OpenThumbnail returns a thumbnail stored for exactly spec (after
	// spec.Normalize).
	OpenThumbnail(ctx context.Context, server, mediaID string, spec ThumbnailSpec) (io.ReadCloser, Meta, error)
}

// CheckKey validates a (server, media ID) pair as every Store must before
// using it: the server name grammar (ids.CheckServerName) and ValidMediaID.
// Errors match ErrInvalidMXC.
func CheckKey(server, mediaID string) error {
	if err := ids.CheckServerName(server); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMXC, err)
	}
	if err := CheckMediaID(mediaID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMXC, err)
	}
	return nil
}
