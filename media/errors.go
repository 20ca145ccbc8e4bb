package media

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalidMXC is returned for an mxc:// URI that does not parse, or
	// whose server name or media ID is invalid.
	ErrInvalidMXC = errors.New("media: invalid mxc URI")
	// ErrInvalidMediaID is returned for a media ID outside [A-Za-z0-9_-]{1,255}.
	ErrInvalidMediaID = errors.New("media: invalid media ID")
	// ErrContentTypeMismatch is returned when the bytes are not what the
	// claimed content type says (an HTML page claiming image/png).
	ErrContentTypeMismatch = errors.New("media: content type does not match the bytes")
	// ErrNotAnImage is returned when a thumbnail is asked of something that
	// is not a decodable PNG, JPEG, GIF or WebP image.
	ErrNotAnImage = errors.New("media: not a supported image")
	// ErrTooManyPixels is returned, before decoding, for an image over
	// MaxPixels.
	ErrTooManyPixels = errors.New("media: image has too many pixels")
	// ErrBadThumbnailSpec is returned for a thumbnail size or method out of
	// bounds.
	ErrBadThumbnailSpec = errors.New("media: bad thumbnail request")
	// ErrBadMultipart is returned for a federation media answer that is not
	// exactly two parts: JSON, then the bytes or a Location.
	ErrBadMultipart = errors.New("media: malformed multipart answer")
	// ErrTooLarge is returned when media is over the size limit.
	ErrTooLarge = errors.New("media: too large")
	// ErrNotFound is returned by a Store for unknown media or thumbnails.
	ErrNotFound = errors.New("media: not found")
	// ErrExists is returned by Store.Put for a media ID that is stored
	// already: media is immutable.
	ErrExists = errors.New("media: already exists")
)
