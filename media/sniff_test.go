package media_test

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"testing"

	"github.com/embedmatrix/homeserver/media"
)

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckContentType(t *testing.T) {
	pngHead := pngBytes(t, 2, 2)
	html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	jpegHead := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	webm := []byte("\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x1f\x42\x86\x81\x01webm")
	ogg := []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00")
	avif := []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00")
	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`)
	tests := map[string]struct {
		claimed string
		head    []byte
		want    string
		wantErr bool
	}{
		"png is png":                {claimed: "image/png", head: pngHead, want: "image/png"},
		"png with parameters":       {claimed: "Image/PNG; charset=x", head: pngHead, want: "image/png"},
		"html claiming png":         {claimed: "image/png", head: html, wantErr: true},
		"html claiming video":       {claimed: "video/mp4", head: html, wantErr: true},
		"html claiming audio":       {claimed: "audio/ogg", head: html, wantErr: true},
		"jpeg claimed as png":       {claimed: "image/png", head: jpegHead, want: "image/jpeg"},
		"jpeg claimed as image/jpg": {claimed: "image/jpg", head: jpegHead, want: "image/jpeg"},
		"png claimed as audio":      {claimed: "audio/mpeg", head: pngHead, wantErr: true},
		"octet-stream of png":       {claimed: "application/octet-stream", head: pngHead, want: "image/png"},
		"no claim of png":           {claimed: "", head: pngHead, want: "image/png"},
		"octet-stream of html":      {claimed: "application/octet-stream", head: html, want: "application/octet-stream"},
		"pdf kept":                  {claimed: "application/pdf", head: []byte("%PDF-1.7"), want: "application/pdf"},
		"text kept":                 {claimed: "text/plain", head: []byte("hello"), want: "text/plain"},
		"webm audio":                {claimed: "audio/webm", head: webm, want: "audio/webm"},
		"webm video":                {claimed: "video/webm", head: webm, want: "video/webm"},
		"ogg audio":                 {claimed: "audio/ogg", head: ogg, want: "audio/ogg"},
		"avif":                      {claimed: "image/avif", head: avif, want: "image/avif"},
		"svg":                       {claimed: "image/svg+xml", head: svg, want: "image/svg+xml"},
		"html claiming svg":         {claimed: "image/svg+xml", head: html, wantErr: true},
		"unparsable claim":          {claimed: "image/png; ;;=", head: pngHead, wantErr: true},
		"claim without slash":       {claimed: "png", head: pngHead, wantErr: true},
		"empty bytes claiming png":  {claimed: "image/png", head: nil, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := media.CheckContentType(tc.claimed, tc.head)
			if tc.wantErr {
				if !errors.Is(err, media.ErrContentTypeMismatch) {
					t.Fatalf("CheckContentType(%q) = %q, %v; want ErrContentTypeMismatch", tc.claimed, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CheckContentType(%q) = %q, %v; want %q", tc.claimed, got, err, tc.want)
			}
		})
	}
}
