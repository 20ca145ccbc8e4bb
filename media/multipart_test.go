package media_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/media"
)

func TestMultipartRoundTrip(t *testing.T) {
	content := pngBytes(t, 3, 3)
	var b bytes.Buffer
	boundary, err := media.WriteMultipart(&b, "image/png", "cat.png", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	// Exactly two parts, as the spec shows them.
	mr := multipart.NewReader(bytes.NewReader(b.Bytes()), boundary)
	var types, disps []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		disps = append(disps, p.Header.Get("Content-Disposition"))
	}
	if len(types) != 2 || types[0] != "application/json" || types[1] != "image/png" || disps[1] != `inline; filename="cat.png"` {
		t.Fatalf("parts: types %q dispositions %q", types, disps)
	}

	p, err := media.ReadMultipart(media.MultipartContentType(boundary), &b, int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if !bytes.Equal(got, content) || p.ContentType != "image/png" || p.FileName != "cat.png" || string(p.JSON) != "{}" || p.Location != "" {
		t.Fatalf("ReadMultipart = %+v with %d bytes", p, len(got))
	}
}

func TestContentDisposition(t *testing.T) {
	tests := map[string]struct {
		contentType, name, want string
	}{
		"image inline":       {"image/png", "a.png", `inline; filename="a.png"`},
		"video inline":       {"video/mp4", "a.mp4", `inline; filename="a.mp4"`},
		"audio inline":       {"audio/ogg; codecs=opus", "a.ogg", `inline; filename="a.ogg"`},
		"html attachment":    {"text/html", "a.html", `attachment; filename="a.html"`},
		"svg attachment":     {"image/svg+xml", "a.svg", `attachment; filename="a.svg"`},
		"pdf attachment":     {"application/pdf", "a.pdf", `attachment; filename="a.pdf"`},
		"bad type":           {"", "a", `attachment; filename="a"`},
		"no name":            {"image/png", "", `inline`},
		"quotes and newline": {"text/plain", "a\"b\r\nX-Evil: 1.txt", `attachment; filename="abX-Evil: 1.txt"`},
		"path":               {"text/plain", "../../etc/passwd", `attachment; filename="passwd"`},
		"windows path":       {"text/plain", `C:\x\y.txt`, `attachment; filename="y.txt"`},
		"semicolon":          {"text/plain", "a;b.txt", `attachment; filename="ab.txt"`},
		"non-ascii":          {"image/jpeg", "café ☕.jpg", `inline; filename="caf_ _.jpg"; filename*=utf-8''caf%C3%A9%20%E2%98%95.jpg`},
		"bidi override":      {"text/plain", "abc\u202egpj.exe", `attachment; filename="abcgpj.exe"`},
		"dot dot":            {"text/plain", "..", `attachment`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := media.ContentDisposition(tc.contentType, tc.name)
			if got != tc.want {
				t.Fatalf("ContentDisposition(%q, %q) = %q, want %q", tc.contentType, tc.name, got, tc.want)
			}
			if _, params, err := mime.ParseMediaType(got); err != nil {
				t.Fatalf("%q does not parse: %v", got, err)
			} else if tc.name != "" && params["filename"] == "" && got != "attachment" && got != "inline" {
				t.Fatalf("%q lost the file name", got)
			}
		})
	}
}

// answer builds a multipart/mixed body from parts given as header, body.
func answer(boundary string, parts ...[2]string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\r\n%s\r\n\r\n%s\r\n", boundary, p[0], p[1])
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.String()
}

func cutAfter(s, sub string) string {
	return s[:strings.Index(s, sub)+len(sub)]
}

func TestReadMultipartRefuses(t *testing.T) {
	const bd = "XyZ"
	ct := "multipart/mixed; boundary=" + bd
	jsonPart := [2]string{"Content-Type: application/json", "{}"}
	bytesPart := [2]string{"Content-Type: image/png", "PNGDATA"}
	tests := map[string]struct {
		contentType string
		body        string
		limit       int64
		// atOpen: ReadMultipart itself fails; otherwise reading Body does.
		atOpen bool
		want   error
	}{
		"not multipart":          {contentType: "image/png", body: "PNGDATA", atOpen: true, want: media.ErrBadMultipart},
		"multipart/form-data":    {contentType: "multipart/form-data; boundary=" + bd, body: answer(bd, jsonPart, bytesPart), atOpen: true, want: media.ErrBadMultipart},
		"no boundary":            {contentType: "multipart/mixed", body: answer(bd, jsonPart, bytesPart), atOpen: true, want: media.ErrBadMultipart},
		"garbage":                {contentType: ct, body: "this is not multipart at all", atOpen: true, want: media.ErrBadMultipart},
		"empty":                  {contentType: ct, body: "", atOpen: true, want: media.ErrBadMultipart},
		"no parts":               {contentType: ct, body: "--" + bd + "--\r\n", atOpen: true, want: media.ErrBadMultipart},
		"one part":               {contentType: ct, body: answer(bd, jsonPart), atOpen: true, want: media.ErrBadMultipart},
		"bytes first":            {contentType: ct, body: answer(bd, bytesPart, jsonPart), atOpen: true, want: media.ErrBadMultipart},
		"json not an object":     {contentType: ct, body: answer(bd, [2]string{"Content-Type: application/json", "[1,2"}, bytesPart), atOpen: true, want: media.ErrBadMultipart},
		"huge json part":         {contentType: ct, body: answer(bd, [2]string{"Content-Type: application/json", `{"a":"` + strings.Repeat("a", 1<<20) + `"}`}, bytesPart), atOpen: true, want: media.ErrBadMultipart},
		"three parts":            {contentType: ct, body: answer(bd, jsonPart, bytesPart, bytesPart), want: media.ErrBadMultipart},
		"location then more":     {contentType: ct, body: answer(bd, jsonPart, [2]string{"Location: https://cdn.example/x", ""}, bytesPart), atOpen: true, want: media.ErrBadMultipart},
		"no closing boundary":    {contentType: ct, body: strings.TrimSuffix(answer(bd, jsonPart, bytesPart), "--"+bd+"--\r\n"), want: media.ErrBadMultipart},
		"cut inside the bytes":   {contentType: ct, body: cutAfter(answer(bd, jsonPart, bytesPart), "PNGD"), want: media.ErrBadMultipart},
		"bytes over the limit":   {contentType: ct, body: answer(bd, jsonPart, [2]string{"Content-Type: image/png", strings.Repeat("x", 101)}), limit: 100, want: media.ErrTooLarge},
		"huge bytes, tiny limit": {contentType: ct, body: answer(bd, jsonPart, [2]string{"Content-Type: image/png", strings.Repeat("x", 3<<20)}), limit: 10, want: media.ErrTooLarge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = 1 << 20
			}
			p, err := media.ReadMultipart(tc.contentType, strings.NewReader(tc.body), limit)
			if tc.atOpen {
				if !errors.Is(err, tc.want) {
					t.Fatalf("ReadMultipart = %+v, %v; want %v", p, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadMultipart: %v (the error was expected while reading the body)", err)
			}
			if _, err := io.ReadAll(p.Body); !errors.Is(err, tc.want) {
				t.Fatalf("reading the body: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadMultipartLocation(t *testing.T) {
	const bd = "b0undary"
	body := answer(bd, [2]string{"Content-Type: application/json", `{"k":1}`}, [2]string{"Location: https://cdn.example.org/media/abc?sig=1", ""})
	p, err := media.ReadMultipart("multipart/mixed; boundary="+bd, strings.NewReader(body), 100)
	if err != nil {
		t.Fatal(err)
	}
	if p.Location != "https://cdn.example.org/media/abc?sig=1" || p.Body != nil || string(p.JSON) != `{"k":1}` {
		t.Fatalf("ReadMultipart = %+v", p)
	}
}

// TestReadMultipartLyingContentLength serves a multipart answer whose
// Content-Length header says it is small, over HTTP, chunked: the limit
// holds on the bytes themselves.
func TestReadMultipartLyingContentLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		w.Header().Set("X-Claimed-Length", "10")
		w.WriteHeader(http.StatusOK)
		pj, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
		io.WriteString(pj, "{}")
		pb, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"image/png"}})
		chunk := bytes.Repeat([]byte("z"), 64<<10)
		for range 64 { // 4 MiB
			if _, err := pb.Write(chunk); err != nil {
				return
			}
		}
		mw.Close()
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p, err := media.ReadMultipart(resp.Header.Get("Content-Type"), resp.Body, 10)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, p.Body)
	if !errors.Is(err, media.ErrTooLarge) || n > 10 {
		t.Fatalf("read %d bytes, err %v; want at most 10 and ErrTooLarge", n, err)
	}
}

func FuzzReadMultipart(f *testing.F) {
	f.Add("XyZ", answer("XyZ", [2]string{"Content-Type: application/json", "{}"}, [2]string{"Content-Type: image/png", "PNG"}))
	f.Add("XyZ", answer("XyZ", [2]string{"Content-Type: application/json", "{}"}, [2]string{"Location: https://x/y", ""}))
	f.Add("XyZ", answer("XyZ", [2]string{"Content-Type: application/json", "{}"}))
	f.Add("a", "--a\r\n\r\n--a--")
	f.Fuzz(func(t *testing.T, boundary, body string) {
		const limit = 1000
		p, err := media.ReadMultipart("multipart/mixed; boundary="+mime.QEncoding.Encode("utf-8", boundary), strings.NewReader(body), limit)
		if err != nil {
			if !errors.Is(err, media.ErrBadMultipart) && !errors.Is(err, media.ErrTooLarge) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		if (p.Body == nil) == (p.Location == "") {
			t.Fatalf("want exactly one of Body and Location: %+v", p)
		}
		if p.Body != nil {
			n, err := io.Copy(io.Discard, p.Body)
			if n > limit {
				t.Fatalf("read %d bytes over the limit %d", n, limit)
			}
			if err != nil && !errors.Is(err, media.ErrBadMultipart) && !errors.Is(err, media.ErrTooLarge) {
				t.Fatalf("body error %v matches no sentinel", err)
			}
		}
	})
}
