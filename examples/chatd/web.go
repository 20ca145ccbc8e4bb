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

// webPage serves the single page at /.
func (a *App) webPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := web.ReadFile("web/index.html")
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
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
		files.ServeHTTP(w, r)
	})
}
