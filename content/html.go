package content

import (
	"regexp"
	"sync"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
)

// MaxHTMLInput is how much of a formatted_body SanitizeHTML reads: longer
// input is truncated to this many bytes (on a UTF-8 boundary) before
// sanitising. A whole event is at most 64 KiB on the wire, so no honest
// formatted_body is longer.
const MaxHTMLInput = 64 << 10

var (
	hexColour   = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	linkScheme  = regexp.MustCompile(`^\s*(?i:https?|ftp|mailto|magnet):`)
	mxcURI      = regexp.MustCompile(`^\s*(?i:mxc)://[^/\s]+/[A-Za-z0-9_-]+\s*$`)
	codeClass   = regexp.MustCompile(`^language-[A-Za-z0-9_+#.-]+$`)
	digits      = regexp.MustCompile(`^[0-9]{1,9}$`)
	linkTargets = regexp.MustCompile(`^_blank$`)
)

// htmlPolicy is the client-server spec's suggested HTML for m.room.message
// (https://spec.matrix.org/latest/client-server-api/#mroommessage-msgtypes):
// its tags, and on them only the attributes its table lists.
var htmlPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("font", "del", "h1", "h2", "h3", "h4", "h5", "h6",
		"blockquote", "p", "a", "ul", "ol", "sup", "sub", "li", "b", "i", "u",
		"strong", "em", "s", "code", "hr", "br", "div", "table", "thead",
		"tbody", "tr", "th", "td", "caption", "pre", "span", "img",
		"details", "summary")

	// Colours are '#' and six hex digits, nothing a CSS parser could read more into.
	p.AllowAttrs("data-mx-bg-color", "data-mx-color").Matching(hexColour).OnElements("font", "span")
	p.AllowAttrs("color").Matching(hexColour).OnElements("font")
	p.AllowNoAttrs().OnElements("font") // bluemonday drops a bare <font> otherwise
	p.AllowAttrs("data-mx-spoiler").OnElements("span")
	p.AllowAttrs("data-mx-maths").OnElements("span", "div")

	// a: href must be absolute with one of the spec's schemes; img: src
	// must be an mxc:// URI. bluemonday checks schemes per policy, so both
	// sets are allowed there and each attribute narrows to its own.
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.AllowURLSchemes("https", "http", "ftp", "mailto", "magnet", "mxc")
	p.AllowAttrs("href").Matching(linkScheme).OnElements("a")
	p.AllowAttrs("target").Matching(linkTargets).OnElements("a")
	// Web clients must give every link rel="noopener": bluemonday adds it
	// with target="_blank" to every (absolute) link.
	p.AddTargetBlankToFullyQualifiedLinks(true)
	// An img whose src is refused keeps only alt and title: it loads nothing.
	p.AllowAttrs("src").Matching(mxcURI).OnElements("img")
	p.AllowAttrs("width", "height").Matching(digits).OnElements("img")
	p.AllowAttrs("alt", "title").OnElements("img")

	p.AllowAttrs("start").Matching(digits).OnElements("ol")
	p.AllowAttrs("class").Matching(codeClass).OnElements("code")

	// https://spec.matrix.org/latest/client-server-api/#rich-replies:
	// clients strip the old reply fallback, <mx-reply> and all it holds.
	p.SkipElementsContent("mx-reply")
	return p
})

// SanitizeHTML returns s (an org.matrix.custom.html formatted_body from any
// server, so untrusted) with only the tags and attributes the client-server
// spec lists for m.room.message, through github.com/microcosm-cc/bluemonday:
// colours only as #RRGGBB, links only to https, http, ftp, mailto and
// magnet URIs (each given target="_blank" rel="noopener"), images only from
// mxc:// URIs, code classes only language-*. Everything else is removed:
// script, style and iframe with their content, event handlers, style
// attributes, and the <mx-reply> reply fallback with its content. Text is
// kept and escaped.
//
// Input longer than MaxHTMLInput bytes is truncated to that length before
// sanitising, so the work is bounded. Tags are not re-balanced: an
// unclosed allowed tag stays unclosed.
func SanitizeHTML(s string) string {
	if len(s) > MaxHTMLInput {
		// Cut before the rune that straddles the limit, if one does.
		i := MaxHTMLInput
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return htmlPolicy().Sanitize(s)
}
