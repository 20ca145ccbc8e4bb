package content

import (
	"fmt"
	"strings"
	"testing"
)

// Each tag the spec suggests survives sanitising.
func TestSanitizeHTMLKeepsAllowedTags(t *testing.T) {
	void := map[string]bool{"hr": true, "br": true}
	for _, tag := range []string{"font", "del", "h1", "h2", "h3", "h4", "h5", "h6",
		"blockquote", "p", "a", "ul", "ol", "sup", "sub", "li", "b", "i", "u",
		"strong", "em", "s", "code", "hr", "br", "div", "table", "thead",
		"tbody", "tr", "th", "td", "caption", "pre", "span", "img",
		"details", "summary"} {
		t.Run(tag, func(t *testing.T) {
			in := "<" + tag + ">x</" + tag + ">"
			switch {
			case void[tag]:
				in = "<" + tag + ">"
			case tag == "a":
				in = `<a href="https://example.org/">x</a>`
			case tag == "img":
				in = `<img src="mxc://example.org/abc">`
			}
			got := SanitizeHTML(in)
			if !strings.HasPrefix(got, "<"+tag) {
				t.Errorf("SanitizeHTML(%q) = %q: <%s> dropped", in, got, tag)
			}
		})
	}
}

func TestSanitizeHTML(t *testing.T) {
	tests := map[string]struct {
		in   string
		want string
	}{
		"text is escaped":         {`a < b & c`, `a &lt; b &amp; c`},
		"script and its content":  {`hi<script>alert(1)</script>!`, `hi!`},
		"style and its content":   {`<style>body{display:none}</style>ok`, `ok`},
		"iframe and its content":  {`<iframe src="https://evil.example/">x</iframe>ok`, `ok`},
		"unknown tag, text kept":  {`<marquee>hey</marquee>`, `hey`},
		"object":                  {`<object data="x">y</object>ok`, `ok`},
		"onerror on img":          {`<img src="mxc://a.org/x" onerror="alert(1)">`, `<img src="mxc://a.org/x">`},
		"onclick on p":            {`<p onclick="alert(1)">p</p>`, `<p>p</p>`},
		"style attribute":         {`<span style="font-size:900px">big</span>`, `<span>big</span>`},
		"javascript href":         {`<a href="javascript:alert(1)">x</a>`, `x`},
		"javascript href, spaced": {`<a href=" JaVaScRiPt:alert(1)">x</a>`, `x`},
		"data href":               {`<a href="data:text/html,<script>x</script>">x</a>`, `x`},
		"relative href":           {`<a href="/logout">x</a>`, `x`},
		"mxc href":                {`<a href="mxc://a.org/x">x</a>`, `x`},
		"https href":              {`<a href="https://a.org/x">x</a>`, `<a href="https://a.org/x" target="_blank" rel="noopener">x</a>`},
		"mailto href":             {`<a href="mailto:a@b.org">m</a>`, `<a href="mailto:a@b.org">m</a>`},
		"magnet href":             {`<a href="magnet:?xt=urn:btih:abc">m</a>`, `<a href="magnet:?xt=urn:btih:abc">m</a>`},
		"ftp href":                {`<a href="ftp://a.org/f">f</a>`, `<a href="ftp://a.org/f" target="_blank" rel="noopener">f</a>`},
		"target other than blank": {`<a href="https://a.org/" target="_parent" rel="opener">x</a>`, `<a href="https://a.org/" target="_blank" rel="noopener">x</a>`},
		"http img src":            {`<img src="http://a.org/x.png">`, ``},
		"https img src":           {`<img src="https://a.org/x.png" alt="a">`, `<img alt="a">`},
		"img attributes":          {`<img src="mxc://a.org/x" width="10" height="20" alt="cat" title="t" class="c">`, `<img src="mxc://a.org/x" width="10" height="20" alt="cat" title="t">`},
		"img width not a number":  {`<img src="mxc://a.org/x" width="100%">`, `<img src="mxc://a.org/x">`},
		"font colours":            {`<font color="#ff0000" data-mx-color="#00FF00" data-mx-bg-color="#000000">x</font>`, `<font color="#ff0000" data-mx-color="#00FF00" data-mx-bg-color="#000000">x</font>`},
		"colour not hex":          {`<font color="red" data-mx-color="#fff" data-mx-bg-color="#12345g">x</font>`, `<font>x</font>`},
		"colour with css":         {`<span data-mx-color="#ffffff;background:url(x)">x</span>`, `<span>x</span>`},
		"span attributes":         {`<span data-mx-spoiler="plot" data-mx-maths="x^2" data-mx-bg-color="#010203">s</span>`, `<span data-mx-spoiler="plot" data-mx-maths="x^2" data-mx-bg-color="#010203">s</span>`},
		"color not on span":       {`<span color="#ffffff">s</span>`, `<span>s</span>`},
		"div maths":               {`<div data-mx-maths="\sum" data-mx-spoiler="x">m</div>`, `<div data-mx-maths="\sum">m</div>`},
		"ol start":                {`<ol start="3" type="a"><li>x</li></ol>`, `<ol start="3"><li>x</li></ol>`},
		"ol start not a number":   {`<ol start="three"><li>x</li></ol>`, `<ol><li>x</li></ol>`},
		"code language class":     {`<code class="language-go">x</code>`, `<code class="language-go">x</code>`},
		"code other class":        {`<code class="evil">x</code>`, `<code>x</code>`},
		"code two classes":        {`<code class="language-go hljs">x</code>`, `<code>x</code>`},
		"class elsewhere":         {`<p class="language-go">x</p>`, `<p>x</p>`},
		"id attribute":            {`<p id="x">x</p>`, `<p>x</p>`},
		"mx-reply stripped":       {`<mx-reply><blockquote><a href="https://matrix.to/#/!r/$e">In reply to</a> <b>quoted</b></blockquote></mx-reply>answer`, `answer`},
		"mx-reply anywhere":       {`a<mx-reply>b</mx-reply>c`, `ac`},
		"comment removed":         {`a<!-- <script>x</script> -->b`, `ab`},
		"malformed nesting":       {`<b><i>x</b></i>`, `<b><i>x</b></i>`},
		"unclosed tag":            {`<b>x`, `<b>x`},
		"broken attribute":        {`<a href="https://a.org/ onclick=x>y`, ``},
		"svg":                     {`<svg><script>alert(1)</script></svg>ok`, `ok`},
		"math":                    {`<math><mtext><img src=x onerror=alert(1)></mtext></math>`, ``},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := SanitizeHTML(tc.in); got != tc.want {
				t.Errorf("SanitizeHTML(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// A 60 KiB formatted_body of script tags comes out with no script and no
// javascript: URL.
func TestSanitizeHTMLScriptFlood(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 60<<10; i++ {
		fmt.Fprintf(&b, `<script>alert(%d)</script><a href="javascript:alert(%d)">x</a><img src=x onerror="javascript:alert(1)"><SCRIPT SRC=//evil/x.js></SCRIPT>`, i, i)
	}
	got := SanitizeHTML(b.String())
	lower := strings.ToLower(got)
	for _, bad := range []string{"<script", "javascript:", "onerror", "<img"} {
		if strings.Contains(lower, bad) {
			t.Errorf("output of %d bytes contains %q", len(got), bad)
		}
	}
	if !strings.Contains(got, "x") {
		t.Errorf("link texts lost: %q", got[:min(len(got), 200)])
	}
}

func TestSanitizeHTMLTruncates(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantLen int
	}{
		"ascii over the limit":     {strings.Repeat("a", MaxHTMLInput+100), MaxHTMLInput},
		"exactly the limit":        {strings.Repeat("a", MaxHTMLInput), MaxHTMLInput},
		"rune across the boundary": {strings.Repeat("a", MaxHTMLInput-1) + "é" + "tail", MaxHTMLInput - 1},
		"4-byte rune across":       {strings.Repeat("a", MaxHTMLInput-2) + "😀", MaxHTMLInput - 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := SanitizeHTML(tc.in)
			if len(got) != tc.wantLen {
				t.Errorf("len = %d, want %d", len(got), tc.wantLen)
			}
		})
	}
	// A script tag opened past the limit is cut, not half-kept.
	in := strings.Repeat("a", MaxHTMLInput-3) + "<script>alert(1)</script>"
	if got := SanitizeHTML(in); strings.Contains(got, "<scr") || strings.Contains(got, "alert") {
		t.Errorf("cut script survives: %q", got[len(got)-20:])
	}
}

// Deep or broken markup never panics and never lets a script through.
func TestSanitizeHTMLHostileStructure(t *testing.T) {
	tests := map[string]string{
		"10000 nested divs":   strings.Repeat("<div>", 10000) + "x" + strings.Repeat("</div>", 10000),
		"10000 unclosed b":    strings.Repeat("<b>", 10000),
		"closers only":        strings.Repeat("</p></table>", 1000),
		"attribute soup":      `<a href=https://a.org/ href=javascript:x onclick onclick=1 "=x>y</a>`,
		"null bytes":          "<scr\x00ipt>alert(1)</script><p\x00>x</p>",
		"invalid utf8":        "<b>\xff\xfe</b><script>\xc3</script>",
		"nested mx-reply":     "<mx-reply><mx-reply>a</mx-reply><script>x</script></mx-reply>b",
		"cdata":               "<![CDATA[<script>alert(1)</script>]]>",
		"script in attribute": `<img alt="<script>alert(1)</script>" src="mxc://a.org/x">`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got := SanitizeHTML(in)
			if strings.Contains(strings.ToLower(got), "<script") {
				t.Errorf("script survives: %q", got)
			}
		})
	}
}

func FuzzSanitizeHTML(f *testing.F) {
	for _, s := range []string{
		`<b>x</b>`, `<script>alert(1)</script>`, `<img src="mxc://a/b" onerror=x>`,
		`<a href="javascript:x">y</a>`, `<mx-reply>q</mx-reply>a`, `<p onclick="x" on="y">`,
		`<svg/onload=alert(1)>`, `<scr<script>ipt>`, `<a href="https://a.org/"target=_blank>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := strings.ToLower(SanitizeHTML(in))
		if strings.Contains(got, "<script") {
			t.Fatalf("SanitizeHTML(%q) = %q has a script tag", in, got)
		}
		// Every attribute left is one of the allowed names, none an event
		// handler: look for " on" inside a tag.
		for _, tag := range strings.Split(got, "<")[1:] {
			if end := strings.IndexByte(tag, '>'); end >= 0 {
				tag = tag[:end]
			}
			if strings.Contains(tag, " on") {
				t.Fatalf("SanitizeHTML(%q) = %q keeps an on* attribute in <%s>", in, got, tag)
			}
		}
	})
}
