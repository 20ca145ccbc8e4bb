package media_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"runtime"
	"testing"

	"github.com/embedmatrix/homeserver/media"
)

// tinyWebP is a 1x1 lossless WebP image.
const tinyWebP = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="

func jpegBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifBytes(t testing.TB, w, h, frames int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for i := range frames {
		p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
		p.SetColorIndex(0, 0, uint8(i%2))
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeaderOnly builds a PNG signature and an IHDR chunk claiming w x h,
// by hand, with no pixel data: a decompression bomb's front.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestThumbnailFormatsAndMethods(t *testing.T) {
	webp, _ := base64.StdEncoding.DecodeString(tinyWebP)
	tests := map[string]struct {
		in       []byte
		spec     media.ThumbnailSpec
		wantType string
		w, h     int
	}{
		"png scale keeps aspect":  {in: pngBytes(t, 400, 200), spec: media.ThumbnailSpec{Width: 100, Height: 100}, wantType: "image/png", w: 100, h: 50},
		"png crop fills the box":  {in: pngBytes(t, 400, 200), spec: media.ThumbnailSpec{Width: 100, Height: 100, Method: "crop"}, wantType: "image/png", w: 100, h: 100},
		"jpeg scale":              {in: jpegBytes(t, 300, 600), spec: media.ThumbnailSpec{Width: 64, Height: 64, Method: "scale"}, wantType: "image/jpeg", w: 32, h: 64},
		"jpeg crop wide box":      {in: jpegBytes(t, 300, 600), spec: media.ThumbnailSpec{Width: 120, Height: 40, Method: "crop"}, wantType: "image/jpeg", w: 120, h: 40},
		"gif first frame":         {in: gifBytes(t, 50, 50, 3), spec: media.ThumbnailSpec{Width: 25, Height: 25}, wantType: "image/png", w: 25, h: 25},
		"webp":                    {in: webp, spec: media.ThumbnailSpec{Width: 32, Height: 32}, wantType: "image/png", w: 1, h: 1},
		"never enlarges on scale": {in: pngBytes(t, 10, 20), spec: media.ThumbnailSpec{Width: 800, Height: 600}, wantType: "image/png", w: 10, h: 20},
		"never enlarges on crop":  {in: pngBytes(t, 10, 20), spec: media.ThumbnailSpec{Width: 800, Height: 8, Method: "crop"}, wantType: "image/png", w: 10, h: 8},
		"largest box":             {in: pngBytes(t, 3200, 10), spec: media.ThumbnailSpec{Width: 1600, Height: 1600}, wantType: "image/png", w: 1600, h: 5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, typ, w, h, err := media.Thumbnail(bytes.NewReader(tc.in), "", tc.spec)
			if err != nil {
				t.Fatalf("Thumbnail: %v", err)
			}
			if typ != tc.wantType || w != tc.w || h != tc.h {
				t.Fatalf("Thumbnail = %s %dx%d, want %s %dx%d", typ, w, h, tc.wantType, tc.w, tc.h)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(out))
			if err != nil || cfg.Width != w || cfg.Height != h || "image/"+format != typ {
				t.Fatalf("output decodes as %s %dx%d (%v), want %s %dx%d", format, cfg.Width, cfg.Height, err, typ, w, h)
			}
		})
	}
}

func TestThumbnailRefuses(t *testing.T) {
	jpg := jpegBytes(t, 64, 64)
	tests := map[string]struct {
		in          []byte
		contentType string
		spec        media.ThumbnailSpec
		want        error
	}{
		"20000x20000 png":        {in: pngHeaderOnly(20000, 20000), spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrTooManyPixels},
		"just over the bound":    {in: pngHeaderOnly(10000, 5001), spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrTooManyPixels},
		"wide and flat bomb":     {in: pngHeaderOnly(1<<31-1, 1), spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrTooManyPixels},
		"truncated jpeg":         {in: jpg[:len(jpg)/2], spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"jpeg header only":       {in: jpg[:20], spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"text":                   {in: []byte("hello, this is not an image"), spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"html claiming png":      {in: []byte("<html></html>"), contentType: "image/png", spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"pdf content type":       {in: pngBytes(t, 4, 4), contentType: "application/pdf", spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"empty":                  {in: nil, spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"zero width":             {in: jpg, spec: media.ThumbnailSpec{Width: 0, Height: 10}, want: media.ErrBadThumbnailSpec},
		"too wide":               {in: jpg, spec: media.ThumbnailSpec{Width: 1601, Height: 10}, want: media.ErrBadThumbnailSpec},
		"negative height":        {in: jpg, spec: media.ThumbnailSpec{Width: 10, Height: -1}, want: media.ErrBadThumbnailSpec},
		"unknown method":         {in: jpg, spec: media.ThumbnailSpec{Width: 10, Height: 10, Method: "stretch"}, want: media.ErrBadThumbnailSpec},
		"png header, no pixels":  {in: pngHeaderOnly(100, 100), spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"gif header, no frames":  {in: gifBytes(t, 8, 8, 1)[:13], spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
		"webp magic, no content": {in: []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), spec: media.ThumbnailSpec{Width: 10, Height: 10}, want: media.ErrNotAnImage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, _, _, err := media.Thumbnail(bytes.NewReader(tc.in), tc.contentType, tc.spec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Thumbnail error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestThumbnailBombNeverDecodes checks the 20000x20000 PNG is refused from
// its header: a decode would allocate 1.6 GB.
func TestThumbnailBombNeverDecodes(t *testing.T) {
	bomb := pngHeaderOnly(20000, 20000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _, err := media.Thumbnail(bytes.NewReader(bomb), "image/png", media.ThumbnailSpec{Width: 10, Height: 10})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, media.ErrTooManyPixels) {
		t.Fatalf("Thumbnail(bomb) = %v, want ErrTooManyPixels", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("refusing the bomb allocated %d bytes", d)
	}
}

// TestThumbnailTruncationsNeverPanic cuts images at every length.
func TestThumbnailTruncationsNeverPanic(t *testing.T) {
	webp, _ := base64.StdEncoding.DecodeString(tinyWebP)
	for name, img := range map[string][]byte{"jpeg": jpegBytes(t, 16, 16), "png": pngBytes(t, 16, 16), "gif": gifBytes(t, 16, 16, 2), "webp": webp} {
		for n := range len(img) {
			_, _, _, _, err := media.Thumbnail(bytes.NewReader(img[:n]), "", media.ThumbnailSpec{Width: 8, Height: 8})
			if err == nil && (name == "jpeg" || name == "png") {
				// GIF and WebP may decode without their last bytes.
				t.Fatalf("%s cut at %d/%d decoded without error", name, n, len(img))
			}
		}
	}
}

// TestThumbnailGIFSmallFirstFrame: a first frame smaller than the GIF's
// screen is thumbnailed from the frame.
func TestThumbnailGIFSmallFirstFrame(t *testing.T) {
	p := image.NewPaletted(image.Rect(10, 10, 40, 30), color.Palette{color.Black, color.White})
	g := &gif.GIF{Image: []*image.Paletted{p}, Delay: []int{0}, Config: image.Config{Width: 100, Height: 100, ColorModel: p.Palette}}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	_, typ, w, h, err := media.Thumbnail(&b, "image/gif", media.ThumbnailSpec{Width: 15, Height: 15})
	if err != nil || typ != "image/png" || w != 15 || h != 10 {
		t.Fatalf("Thumbnail = %s %dx%d, %v; want image/png 15x10", typ, w, h, err)
	}
}
