package media_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/embedmatrix/homeserver/media"
)

func ExampleParseMXC() {
	server, id, err := media.ParseMXC("mxc://matrix.org:8448/SEsfnsuifSDFSSEF")
	fmt.Println(server, id, err)
	_, _, err = media.ParseMXC("mxc://matrix.org/../../etc/passwd")
	fmt.Println(err != nil)
	// Output:
	// matrix.org:8448 SEsfnsuifSDFSSEF <nil>
	// true
}

func ExampleCheckContentType() {
	_, err := media.CheckContentType("image/png", []byte("<html><script>alert(1)</script>"))
	fmt.Println(err)
	// Output:
	// media: content type does not match the bytes: claimed image/png, bytes are text/html
}

func ExampleWriteMultipart() {
	var answer bytes.Buffer
	boundary, _ := media.WriteMultipart(&answer, "text/plain", "notes.txt", strings.NewReader("hello"))

	part, err := media.ReadMultipart(media.MultipartContentType(boundary), &answer, 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(part.Body)
	fmt.Println(part.ContentType, part.FileName, string(body), err)
	fmt.Println(media.ContentDisposition("text/html", "page.html"))
	// Output:
	// text/plain notes.txt hello <nil>
	// attachment; filename="page.html"
}
