package interop

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHarness_CreateAccount checks Dendrite's own create-account tool
// against the harness's config, then logs the user in through
// /_matrix/client/v3/login.
func TestHarness_CreateAccount(t *testing.T) {
	d := sharedDendrite(t)
	tool := filepath.Join(filepath.Dir(d.bin), "create-account")
	user, password := "erin-"+strings.ToLower(randomString(6)), randomString(20)
	d.mu.Lock()
	httpURL := d.httpURL
	d.mu.Unlock()
	out, err := exec.Command(tool, "-config", filepath.Join(d.dir, "dendrite.yaml"),
		"-url", httpURL, "-username", user, "-password", password).CombinedOutput()
	if err != nil {
		t.Fatalf("create-account: %v\n%s", err, out)
	}
	var res struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	err = d.csDo(ctx(t), "", "POST", "/_matrix/client/v3/login", map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	}, &res)
	if err != nil {
		t.Fatalf("login as the account create-account made: %v", err)
	}
	if want := "@" + user + ":" + d.name; res.UserID != want || res.AccessToken == "" {
		t.Fatalf("login answered user %q (token %t), want %q", res.UserID, res.AccessToken != "", want)
	}
}
