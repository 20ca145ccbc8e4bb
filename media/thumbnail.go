package media

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// MaxPixels is the largest image, in pixels, that Thumbnail decodes: over
// it the image is refused from its header alone, so a decompression bomb
// never decodes.
const MaxPixels = 50_000_000

// MaxThumbnailSize is the largest thumbnail width or height accepted.
const MaxThumbnailSize = 1600

// Thumbnail methods (spec: client-server API, "Thumbnails").
const (
	MethodCrop  = "crop"
	MethodScale = "scale"
)

// ThumbnailSpec is a thumbnail request: the wanted size and method.
// https://spec.matrix.org/v1.16/client-server-api/#thumbnails
type ThumbnailSpec struct {
	Width, Height int
	// Method is "crop" (fill the box, then centre-crop to it) or "scale"
	// (fit within the box, keeping the aspect ratio); empty means scale.
	Method string
}

// Normalize checks the spec (sizes 1..MaxThumbnailSize, a known method)
// and returns it with the default method filled in. Errors match
// ErrBadThumbnailSpec.
func (s ThumbnailSpec) Normalize() (ThumbnailSpec, error) {
	if s.Width < 1 || s.Width > MaxThumbnailSize || s.Height < 1 || s.Height > MaxThumbnailSize {
		return s, fmt.Errorf("%w: size %dx%d outside 1..%d", ErrBadThumbnailSpec, s.Width, s.Height, MaxThumbnailSize)
	}
	switch s.Method {
	case "":
		s.Method = MethodScale
	case MethodCrop, MethodScale:
	default:
		return s, fmt.Errorf("%w: method %q", ErrBadThumbnailSpec, truncate(s.Method, 20))
	}
	return s, nil
}

// decoders are the formats Thumbnail reads, by the name image.DecodeConfig
// would give; only these, whatever else a program registered.
var decoders = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	"png":  {png.DecodeConfig, png.Decode},
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"gif":  {gif.DecodeConfig, gif.Decode}, // gif.Decode returns the first frame
	"webp": {webp.DecodeConfig, webp.Decode},
}

// formatOf names the image format from its magic bytes.
func formatOf(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("\xff\xd8")):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif"
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// Thumbnail makes a thumbnail of a PNG, JPEG, GIF (first frame) or WebP
// image read from r. The format is taken from the bytes; contentType is
// only a hint and may be empty. The image's dimensions are read from its
// header first: over MaxPixels it is refused with ErrTooManyPixels before
// any pixel is decoded. Anything else, or a damaged image, gives
// ErrNotAnImage. The output is JPEG for JPEG input and PNG otherwise, with
// its content type and size. Thumbnail never enlarges an image.
func Thumbnail(r io.Reader, contentType string, spec ThumbnailSpec) (out []byte, outType string, w, h int, err error) {
	spec, err = spec.Normalize()
	if err != nil {
		return nil, "", 0, 0, err
	}
	if contentType != "" && !isMedia(topLevel(contentType)) && contentType != "application/octet-stream" {
		return nil, "", 0, 0, fmt.Errorf("%w: content type %s", ErrNotAnImage, truncate(contentType, 60))
	}
	// A decoder panicking on hostile bytes must not take the host down.
	defer func() {
		if p := recover(); p != nil {
			out, outType, w, h, err = nil, "", 0, 0, fmt.Errorf("%w: decoder failed: %v", ErrNotAnImage, p)
		}
	}()

	var head [16]byte
	n, _ := io.ReadFull(r, head[:])
	format := formatOf(head[:n])
	dec, ok := decoders[format]
	if !ok {
		return nil, "", 0, 0, ErrNotAnImage
	}
	// Remember what DecodeConfig reads (a header), then replay it to the
	// decoder: the image itself is never buffered twice.
	var seen bytes.Buffer
	src := io.MultiReader(bytes.NewReader(head[:n]), r)
	cfg, err := dec.config(io.TeeReader(src, &seen))
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("%w: %s header: %w", ErrNotAnImage, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", 0, 0, fmt.Errorf("%w: %dx%d", ErrNotAnImage, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, "", 0, 0, fmt.Errorf("%w: %dx%d is over %d", ErrTooManyPixels, cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := dec.decode(io.MultiReader(&seen, src))
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("%w: decode %s: %w", ErrNotAnImage, format, err)
	}
	b := img.Bounds()
	// A GIF's first frame may be smaller than its screen, never larger.
	if b.Empty() || b.Dx() > cfg.Width || b.Dy() > cfg.Height {
		return nil, "", 0, 0, fmt.Errorf("%w: %s decoded to %v, header said %dx%d", ErrNotAnImage, format, b, cfg.Width, cfg.Height)
	}

	dst := resize(img, spec)
	var buf bytes.Buffer
	if format == "jpeg" {
		err, outType = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}), "image/jpeg"
	} else {
		err, outType = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, dst), "image/png"
	}
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("media: encode thumbnail: %w", err)
	}
	return buf.Bytes(), outType, dst.Bounds().Dx(), dst.Bounds().Dy(), nil
}

// resize scales img for spec: "scale" fits it within the box, "crop" fills
// the box and centre-crops the overflow. Neither enlarges.
func resize(img image.Image, spec ThumbnailSpec) image.Image {
	b := img.Bounds()
	sw, sh := float64(b.Dx()), float64(b.Dy())
	bw, bh := float64(spec.Width), float64(spec.Height)
	srcRect := b
	var tw, th int
	if spec.Method == MethodCrop {
		ratio := max(bw/sw, bh/sh)
		if ratio > 1 {
			ratio = 1
		}
		tw, th = min(spec.Width, b.Dx()), min(spec.Height, b.Dy())
		// The source rectangle that scales to tw x th, centred.
		cw, ch := int(float64(tw)/ratio+0.5), int(float64(th)/ratio+0.5)
		cw, ch = min(max(cw, 1), b.Dx()), min(max(ch, 1), b.Dy())
		x0, y0 := b.Min.X+(b.Dx()-cw)/2, b.Min.Y+(b.Dy()-ch)/2
		srcRect = image.Rect(x0, y0, x0+cw, y0+ch)
	} else {
		ratio := min(bw/sw, bh/sh, 1)
		tw, th = max(int(sw*ratio+0.5), 1), max(int(sh*ratio+0.5), 1)
	}
	if tw == b.Dx() && th == b.Dy() && srcRect == b {
		return img
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, srcRect, draw.Src, nil)
	return dst
}
