package main

import (
	"net/http"
	"strings"
	"testing"
)

// The page and its assets forbid inline scripts: a formatted message that
// got past the sanitiser still could not run <script> or onerror=.
func TestContentSecurityPolicy(t *testing.T) {
	a := startNode(t, "alice")
	for _, path := range []string{"/", "/static/app.js", "/static/style.css"} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequest("GET", a.url(path), nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := res.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'"} {
				if !strings.Contains(got, want) {
					t.Errorf("CSP %q lacks %q", got, want)
				}
			}
			if strings.Contains(got, "unsafe-inline") || strings.Contains(got, "unsafe-eval") {
				t.Errorf("CSP %q allows inline code", got)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no nosniff")
			}
		})
	}
}
