package media_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"github.com/embedmatrix/homeserver/media"
)

// BenchmarkThumbnail12MP thumbnails a 4000x3000 JPEG to 800x600.
func BenchmarkThumbnail12MP(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			img.SetRGBA(x, y, color.RGBA{uint8(x / 16), uint8(y / 12), uint8((x + y) / 28), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	in := buf.Bytes()
	for _, method := range []string{media.MethodScale, media.MethodCrop} {
		b.Run(method, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, _, err := media.Thumbnail(bytes.NewReader(in), "image/jpeg", media.ThumbnailSpec{Width: 800, Height: 600, Method: method}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// sink is a writer without ReadFrom, as a network connection is to
// io.Copy: the bytes go through a copy buffer.
type sink struct{ n int64 }

func (s *sink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }

// BenchmarkWriteMultipart50MiB writes the federation answer of a 50 MiB
// file, read through a copy buffer as from a store's file.
func BenchmarkWriteMultipart50MiB(b *testing.B) {
	content := bytes.Repeat([]byte{0xA5}, 50<<20)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		body := struct{ io.Reader }{bytes.NewReader(content)} // hides WriterTo
		if _, err := media.WriteMultipart(&sink{}, "video/mp4", "film.mp4", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadMultipart50MiB parses the federation answer of a 50 MiB file.
func BenchmarkReadMultipart50MiB(b *testing.B) {
	content := bytes.Repeat([]byte{0xA5}, 50<<20)
	var answer bytes.Buffer
	boundary, err := media.WriteMultipart(&answer, "video/mp4", "film.mp4", bytes.NewReader(content))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		p, err := media.ReadMultipart(media.MultipartContentType(boundary), bytes.NewReader(answer.Bytes()), 50<<20)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, p.Body); err != nil {
			b.Fatal(err)
		}
	}
}
