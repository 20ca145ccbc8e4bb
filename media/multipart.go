package media

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJSONPart bounds the metadata part of a federation media answer.
const maxJSONPart = 64 << 10

// multipartOverhead is what a multipart answer may add to the bytes
// (boundaries, part headers, the JSON part) before it counts as too large.
const multipartOverhead = maxJSONPart + 64<<10

// WriteMultipart writes the federation media answer for content of the
// given type and file name: a multipart/mixed body with exactly two parts,
// application/json "{}" then the bytes of body with their Content-Type and
// a safe Content-Disposition (see ContentDisposition). It streams body and
// returns the boundary; the caller sends the header
// "Content-Type: multipart/mixed; boundary=" + boundary before the body.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1mediadownloadmediaid
func WriteMultipart(w io.Writer, contentType, fileName string, body io.Reader) (boundary string, err error) {
	mw := multipart.NewWriter(w)
	boundary = mw.Boundary()
	meta, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return "", fmt.Errorf("media: write multipart: %w", err)
	}
	if _, err := io.WriteString(meta, "{}"); err != nil {
		return "", fmt.Errorf("media: write multipart: %w", err)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {contentType},
		"Content-Disposition": {ContentDisposition(contentType, fileName)},
	})
	if err != nil {
		return "", fmt.Errorf("media: write multipart: %w", err)
	}
	if _, err := io.Copy(part, body); err != nil {
		return "", fmt.Errorf("media: write multipart body: %w", err)
	}
	if err := mw.Close(); err != nil {
		return "", fmt.Errorf("media: write multipart: %w", err)
	}
	return boundary, nil
}

// MultipartContentType is the Content-Type header for a WriteMultipart body.
func MultipartContentType(boundary string) string {
	return "multipart/mixed; boundary=" + boundary
}

// ContentDisposition returns a Content-Disposition header value for serving
// content: "inline" only for images (not SVG), video and audio, "attachment"
// for everything else, with the file name sanitised (no quotes, slashes or
// control characters) and, when it is not ASCII, also given as an RFC 6266
// filename*= (RFC 5987 UTF-8 encoding) beside an ASCII fallback.
func ContentDisposition(contentType, fileName string) string {
	t, _, err := mime.ParseMediaType(contentType)
	disp := "attachment"
	if err == nil && isMedia(topLevel(t)) && t != "image/svg+xml" {
		disp = "inline"
	}
	name := SanitizeFileName(fileName)
	if name == "" {
		return disp
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return disp + `; filename="` + name + `"`
	}
	var fallback strings.Builder
	for _, r := range name {
		if r < utf8.RuneSelf {
			fallback.WriteRune(r)
		} else {
			fallback.WriteByte('_')
		}
	}
	return disp + `; filename="` + fallback.String() + `"; filename*=utf-8''` + encodeRFC5987(name)
}

// SanitizeFileName makes a file name safe to put in a header or on a disk:
// only its last path element, without control characters, quotes,
// backslashes or invalid UTF-8, trimmed, and at most 255 bytes.
func SanitizeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		if r == utf8.RuneError || r == '"' || r == '\\' || r == ';' || unicode.IsControl(r) ||
			unicode.Is(unicode.Cf, r) { // format characters: bidi overrides
			continue
		}
		if b.Len()+utf8.RuneLen(r) > 255 {
			break
		}
		b.WriteRune(r)
	}
	s := strings.TrimSpace(b.String())
	if s == "." || s == ".." {
		return ""
	}
	return s
}

// encodeRFC5987 percent-encodes s as an RFC 5987 value-chars string.
func encodeRFC5987(s string) string {
	const attrChar = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(attrChar, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Part is the media part of a federation media answer: either the bytes
// (Body, with ContentType and FileName) or a Location to fetch them from.
type Part struct {
	// ContentType is the part's Content-Type, "application/octet-stream"
	// when it has none.
	ContentType string
	// FileName is the sanitised file name from Content-Disposition, if any.
	FileName string
	// Body streams the bytes. It returns an error matching ErrTooLarge
	// past the limit, and one matching ErrBadMultipart when the answer does
	// not end right after this part (a third part, a missing closing
	// boundary): a caller must treat any Read error as a failed fetch.
	// Nil when Location is set.
	Body io.Reader
	// Location is the URL the peer redirects to (a part with a Location
	// header). The caller follows it once and never caches it.
	Location string
	// JSON is the metadata part, as sent (a JSON object).
	JSON json.RawMessage
}

// ReadMultipart parses a federation media answer: contentTypeHeader is the
// response's Content-Type (multipart/mixed with a boundary), body its body.
// It accepts exactly two parts, application/json then the bytes or a
// Location part, and bounds the bytes by limit whatever Content-Length
// said. Anything else is refused with ErrBadMultipart. The bytes are not
// read here: Part.Body streams them.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1mediadownloadmediaid
func ReadMultipart(contentTypeHeader string, body io.Reader, limit int64) (Part, error) {
	t, params, err := mime.ParseMediaType(contentTypeHeader)
	if err != nil || t != "multipart/mixed" || params["boundary"] == "" {
		return Part{}, fmt.Errorf("%w: content type %q", ErrBadMultipart, truncate(contentTypeHeader, 80))
	}
	if limit < 0 {
		limit = 0
	}
	whole := &capReader{r: body, left: limit + multipartOverhead}
	mr := multipart.NewReader(whole, params["boundary"])

	meta, err := mr.NextPart()
	if err != nil {
		return Part{}, badPart("first part", err)
	}
	if mt, _, err := mime.ParseMediaType(meta.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return Part{}, fmt.Errorf("%w: first part is %q, not application/json", ErrBadMultipart, truncate(meta.Header.Get("Content-Type"), 60))
	}
	raw, err := io.ReadAll(io.LimitReader(meta, maxJSONPart+1))
	if err != nil {
		return Part{}, badPart("JSON part", err)
	}
	if len(raw) > maxJSONPart {
		return Part{}, fmt.Errorf("%w: JSON part over %d bytes", ErrBadMultipart, maxJSONPart)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Part{}, fmt.Errorf("%w: JSON part: %w", ErrBadMultipart, err)
	}

	media, err := mr.NextPart()
	if err != nil {
		return Part{}, badPart("second part", err)
	}
	p := Part{JSON: json.RawMessage(raw), ContentType: "application/octet-stream"}
	if loc := media.Header.Get("Location"); loc != "" {
		if _, err := io.Copy(io.Discard, io.LimitReader(media, maxJSONPart)); err != nil {
			return Part{}, badPart("location part", err)
		}
		if err := expectEnd(mr); err != nil {
			return Part{}, err
		}
		p.Location = loc
		return p, nil
	}
	if ct := media.Header.Get("Content-Type"); ct != "" {
		p.ContentType = ct
	}
	if cd := media.Header.Get("Content-Disposition"); cd != "" {
		if _, dp, err := mime.ParseMediaType(cd); err == nil {
			p.FileName = SanitizeFileName(dp["filename"])
		}
	}
	p.Body = &partReader{part: media, mr: mr, left: limit, whole: whole}
	return p, nil
}

// partReader streams the media part, bounded, and checks on EOF that the
// answer ends there.
type partReader struct {
	part  *multipart.Part
	mr    *multipart.Reader
	whole *capReader
	left  int64
	err   error
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if int64(len(b)) > p.left+1 {
		b = b[:p.left+1]
	}
	n, err := p.part.Read(b)
	if int64(n) > p.left {
		p.err = fmt.Errorf("%w: media part over the limit", ErrTooLarge)
		return 0, p.err
	}
	p.left -= int64(n)
	switch {
	case err == io.EOF:
		if endErr := expectEnd(p.mr); endErr != nil {
			p.err = endErr
			return n, nil // the next Read reports it
		}
		p.err = io.EOF
	case err != nil:
		p.err = badPart("media part", err)
		if errors.Is(err, ErrTooLarge) {
			p.err = err
		}
		return n, nil
	}
	return n, nil
}

// expectEnd checks that no part follows.
func expectEnd(mr *multipart.Reader) error {
	_, err := mr.NextPart()
	if err == io.EOF {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%w: more than two parts", ErrBadMultipart)
	}
	return badPart("closing boundary", err)
}

func badPart(what string, err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	if err == io.EOF {
		return fmt.Errorf("%w: %s missing", ErrBadMultipart, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrBadMultipart, what, err)
}

// capReader returns ErrTooLarge, not EOF, once more than left bytes came.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		// Is there more? One byte tells.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: answer over the limit", ErrTooLarge)
		}
		return 0, err
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	return n, err
}
