package main

import "testing"

// TestTwoServersDemo runs the demo exactly as `go run` does.
func TestTwoServersDemo(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
