package postgres

// This file makes the database a media.Store too (so storage/postgres
// imports media; media never imports storage): every process sharing the
// database sees the same media, with no shared disk.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/embedmatrix/homeserver/media"
)

// schemaMedia adds media: content-addressed blobs cut in chunks, and the
// metadata of media and thumbnails naming them by SHA-256.
const schemaMedia = `
CREATE SEQUENCE media_blob_ids;

-- One row per distinct byte string; its bytes are in media_chunks.
CREATE TABLE media_blobs (
	sha256  BYTEA PRIMARY KEY,
	blob_id BIGINT NOT NULL UNIQUE,
	size    BIGINT NOT NULL
);

-- The bytes, mediaChunkSize per row, seq from 0.
CREATE TABLE media_chunks (
	blob_id BIGINT NOT NULL,
	seq     INTEGER NOT NULL,
	data    BYTEA NOT NULL,
	PRIMARY KEY (blob_id, seq)
);

CREATE TABLE media (
	server       BYTEA NOT NULL,
	media_id     BYTEA NOT NULL,
	content_type BYTEA NOT NULL,
	file_name    BYTEA NOT NULL,
	size         BIGINT NOT NULL,
	sha256       BYTEA NOT NULL,
	created_ts   BIGINT NOT NULL,
	PRIMARY KEY (server, media_id)
);

CREATE TABLE media_thumbnails (
	server       BYTEA NOT NULL,
	media_id     BYTEA NOT NULL,
	width        INTEGER NOT NULL,
	height       INTEGER NOT NULL,
	method       BYTEA NOT NULL,
	content_type BYTEA NOT NULL,
	size         BIGINT NOT NULL,
	sha256       BYTEA NOT NULL,
	created_ts   BIGINT NOT NULL,
	PRIMARY KEY (server, media_id, width, height, method)
);
`

// mediaChunkSize is the size of one media_chunks row.
const mediaChunkSize = 1 << 20

// MediaStore is a media.Store in the Store's database. Get it with
// (*Store).Media; it shares the Store's pool and lives until the Store is
// closed.
type MediaStore struct {
	pool *pgxpool.Pool
}

var _ media.Store = (*MediaStore)(nil)

// Media returns the media.Store kept in the same database.
func (s *Store) Media() *MediaStore {
	return &MediaStore{pool: s.pool}
}

// Put implements media.Store. The chunks and the metadata are written in
// one transaction, so a failed Put (a reader error, the limit, a cancelled
// context) leaves nothing. Bytes already stored are not kept twice: the
// new chunks are dropped in the same transaction.
func (s *MediaStore) Put(ctx context.Context, m media.Meta, r io.Reader, limit int64) (media.Meta, error) {
	if err := media.CheckKey(m.Server, m.MediaID); err != nil {
		return media.Meta{}, fmt.Errorf("postgres: put media: %w", err)
	}
	what := media.MXC(m.Server, m.MediaID)
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM media WHERE server = $1 AND media_id = $2)`,
		bs(m.Server), bs(m.MediaID)).Scan(&exists); err != nil {
		return media.Meta{}, fmt.Errorf("postgres: put media %s: %w", what, err)
	}
	if exists {
		return media.Meta{}, fmt.Errorf("postgres: put media %s: %w", what, media.ErrExists)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		size, sha, err := writeBlob(ctx, tx, r, limit)
		if err != nil {
			return err
		}
		m.Size, m.SHA256 = size, sha
		if m.CreatedTS == 0 {
			m.CreatedTS = time.Now().UnixMilli()
		}
		// Of concurrent Puts of one media ID the later waits here for the
		// earlier to commit, then inserts nothing.
		tag, err := tx.Exec(ctx, `
			INSERT INTO media (server, media_id, content_type, file_name, size, sha256, created_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			bs(m.Server), bs(m.MediaID), bs(m.ContentType), bs(m.FileName), m.Size, bs(m.SHA256), m.CreatedTS)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return media.ErrExists
		}
		return nil
	})
	if err != nil {
		return media.Meta{}, fmt.Errorf("postgres: put media %s: %w", what, err)
	}
	return m, nil
}

// Open implements media.Store. The reader fetches one chunk at a time and
// holds no connection between reads.
func (s *MediaStore) Open(ctx context.Context, server, mediaID string) (io.ReadCloser, media.Meta, error) {
	if err := media.CheckKey(server, mediaID); err != nil {
		return nil, media.Meta{}, fmt.Errorf("postgres: open media: %w", err)
	}
	m := media.Meta{Server: server, MediaID: mediaID}
	var blobID int64
	err := s.pool.QueryRow(ctx, `
		SELECT m.content_type, m.file_name, m.size, m.sha256, m.created_ts, b.blob_id
		FROM media m JOIN media_blobs b ON b.sha256 = m.sha256
		WHERE m.server = $1 AND m.media_id = $2`, bs(server), bs(mediaID)).
		Scan(&m.ContentType, &m.FileName, &m.Size, &m.SHA256, &m.CreatedTS, &blobID)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = media.ErrNotFound
		}
		return nil, media.Meta{}, fmt.Errorf("postgres: open media %s: %w", media.MXC(server, mediaID), err)
	}
	return &chunkReader{ctx: ctx, pool: s.pool, blobID: blobID, left: m.Size}, m, nil
}

// PutThumbnail implements media.Store.
func (s *MediaStore) PutThumbnail(ctx context.Context, server, mediaID string, spec media.ThumbnailSpec, contentType string, r io.Reader, limit int64) (media.Meta, error) {
	if err := media.CheckKey(server, mediaID); err != nil {
		return media.Meta{}, fmt.Errorf("postgres: put thumbnail: %w", err)
	}
	spec, err := spec.Normalize()
	if err != nil {
		return media.Meta{}, fmt.Errorf("postgres: put thumbnail: %w", err)
	}
	m := media.Meta{Server: server, MediaID: mediaID, ContentType: contentType, CreatedTS: time.Now().UnixMilli()}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM media WHERE server = $1 AND media_id = $2)`,
			bs(server), bs(mediaID)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return media.ErrNotFound
		}
		size, sha, err := writeBlob(ctx, tx, r, limit)
		if err != nil {
			return err
		}
		m.Size, m.SHA256 = size, sha
		_, err = tx.Exec(ctx, `
			INSERT INTO media_thumbnails (server, media_id, width, height, method, content_type, size, sha256, created_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (server, media_id, width, height, method) DO UPDATE SET
				content_type = EXCLUDED.content_type, size = EXCLUDED.size,
				sha256 = EXCLUDED.sha256, created_ts = EXCLUDED.created_ts`,
			bs(server), bs(mediaID), spec.Width, spec.Height, bs(spec.Method), bs(contentType), m.Size, bs(m.SHA256), m.CreatedTS)
		return err
	})
	if err != nil {
		return media.Meta{}, fmt.Errorf("postgres: thumbnail of %s: %w", media.MXC(server, mediaID), err)
	}
	return m, nil
}

// OpenThumbnail implements media.Store.
func (s *MediaStore) OpenThumbnail(ctx context.Context, server, mediaID string, spec media.ThumbnailSpec) (io.ReadCloser, media.Meta, error) {
	if err := media.CheckKey(server, mediaID); err != nil {
		return nil, media.Meta{}, fmt.Errorf("postgres: open thumbnail: %w", err)
	}
	spec, err := spec.Normalize()
	if err != nil {
		return nil, media.Meta{}, fmt.Errorf("postgres: open thumbnail: %w", err)
	}
	m := media.Meta{Server: server, MediaID: mediaID}
	var blobID int64
	err = s.pool.QueryRow(ctx, `
		SELECT t.content_type, t.size, t.sha256, t.created_ts, b.blob_id
		FROM media_thumbnails t JOIN media_blobs b ON b.sha256 = t.sha256
		WHERE t.server = $1 AND t.media_id = $2 AND t.width = $3 AND t.height = $4 AND t.method = $5`,
		bs(server), bs(mediaID), spec.Width, spec.Height, bs(spec.Method)).
		Scan(&m.ContentType, &m.Size, &m.SHA256, &m.CreatedTS, &blobID)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = media.ErrNotFound
		}
		return nil, media.Meta{}, fmt.Errorf("postgres: open thumbnail of %s: %w", media.MXC(server, mediaID), err)
	}
	return &chunkReader{ctx: ctx, pool: s.pool, blobID: blobID, left: m.Size}, m, nil
}

// CountBlobs returns how many distinct blobs are stored (for
// mediatest.BlobCounter and for operators).
func (s *MediaStore) CountBlobs(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM media_blobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count media blobs: %w", err)
	}
	return n, nil
}

// inTx runs fn in one READ COMMITTED transaction. Unlike Store.write it
// never runs fn twice: fn consumes a reader.
func (s *MediaStore) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return inTx(ctx, s.pool, fn)
}

// writeBlob streams r (at most limit bytes) into chunks of a new blob in
// tx, hashing it, and registers the blob by its SHA-256; when those bytes
// are stored already, the new chunks are deleted again in tx.
func writeBlob(ctx context.Context, tx pgx.Tx, r io.Reader, limit int64) (int64, string, error) {
	var blobID int64
	if err := tx.QueryRow(ctx, `SELECT nextval('media_blob_ids')`).Scan(&blobID); err != nil {
		return 0, "", err
	}
	if limit < 0 {
		limit = 0
	}
	lr := io.LimitReader(r, limit+1)
	h := sha256.New()
	buf := make([]byte, mediaChunkSize)
	var size int64
	for seq := 0; ; seq++ {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		n, err := io.ReadFull(lr, buf)
		if n > 0 {
			size += int64(n)
			if size > limit {
				return 0, "", fmt.Errorf("%w: over %d bytes", media.ErrTooLarge, limit)
			}
			h.Write(buf[:n])
			if _, err := tx.Exec(ctx, `INSERT INTO media_chunks (blob_id, seq, data) VALUES ($1, $2, $3)`, blobID, seq, buf[:n]); err != nil {
				return 0, "", fmt.Errorf("write chunk %d: %w", seq, err)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return 0, "", fmt.Errorf("read: %w", err)
		}
	}
	sha := hex.EncodeToString(h.Sum(nil))
	// A concurrent writer of the same bytes makes this wait for its commit.
	tag, err := tx.Exec(ctx, `INSERT INTO media_blobs (sha256, blob_id, size) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
		bs(sha), blobID, size)
	if err != nil {
		return 0, "", err
	}
	if tag.RowsAffected() == 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM media_chunks WHERE blob_id = $1`, blobID); err != nil {
			return 0, "", err
		}
	}
	return size, sha, nil
}

// chunkReader streams a blob, one chunk query per chunk, into a buffer
// it reuses.
type chunkReader struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	blobID int64
	seq    int
	left   int64 // bytes not yet fetched
	buf    chunkBuf
	off    int
	closed bool
}

// chunkBuf scans a bytea into its own buffer, reusing it (pgtype.BytesScanner).
type chunkBuf struct{ b []byte }

// ScanBytes implements pgtype.BytesScanner.
func (c *chunkBuf) ScanBytes(v []byte) error {
	c.b = append(c.b[:0], v...)
	return nil
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.closed {
		return 0, errors.New("postgres: read of a closed media reader")
	}
	for c.off >= len(c.buf.b) {
		if c.left <= 0 {
			return 0, io.EOF
		}
		err := c.pool.QueryRow(c.ctx, `SELECT data FROM media_chunks WHERE blob_id = $1 AND seq = $2`, c.blobID, c.seq).Scan(&c.buf)
		if err != nil {
			return 0, fmt.Errorf("postgres: read media chunk %d: %w", c.seq, err)
		}
		if len(c.buf.b) == 0 || int64(len(c.buf.b)) > c.left {
			return 0, fmt.Errorf("postgres: media chunk %d has %d bytes, %d expected at most", c.seq, len(c.buf.b), c.left)
		}
		c.seq++
		c.left -= int64(len(c.buf.b))
		c.off = 0
	}
	n := copy(p, c.buf.b[c.off:])
	c.off += n
	return n, nil
}

// Close implements io.Closer.
func (c *chunkReader) Close() error {
	c.closed = true
	c.buf.b = nil
	return nil
}
