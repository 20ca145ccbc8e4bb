package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// web holds the page: plain HTML, CSS and JS, no build step.
//
//go:embed web
var web embed.FS

// csp is the page's Content-Security-Policy: scripts, styles and images
// come from chatd only, so no inline script or event-handler attribute
// runs, even if HTML from another server slipped through the sanitiser
// into a formatted message.
const csp = "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'"

// webPage serves the single page at /.
func (a *App) webPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := web.ReadFile("web/index.html")
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}

// webAssets serves web/* under /static/.
func (a *App) webAssets() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil { // cannot happen: the directory is embedded
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, err) })
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
