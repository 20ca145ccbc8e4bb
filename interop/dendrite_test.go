package interop

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DendriteVersion is the version build-dendrite.sh builds.
const DendriteVersion = "v0.15.2"

// dendriteBinDir is where build-dendrite.sh puts the binaries.
func dendriteBinDir() string {
	if d := os.Getenv("DENDRITE_BIN_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "embedmatrix-interop", "dendrite-"+DendriteVersion)
}

func interopRequired() bool { return os.Getenv("INTEROP_REQUIRED") == "1" }

// needDendrite returns the path of the dendrite binary, or ends the test:
// it fails under INTEROP_REQUIRED=1 and skips otherwise.
func needDendrite(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(dendriteBinDir(), "dendrite")
	if st, err := os.Stat(bin); err == nil && !st.IsDir() {
		return bin
	}
	msg := fmt.Sprintf("Dendrite %s binary not found at %s: run interop/build-dendrite.sh (or set DENDRITE_BIN_DIR)", DendriteVersion, bin)
	if interopRequired() {
		t.Fatal("INTEROP_REQUIRED=1: " + msg)
	}
	t.Skip(msg)
	return ""
}

// dendrite is one Dendrite process on 127.0.0.1 with server name
// localhost:PORT, serving federation and the client API on that HTTPS port.
type dendrite struct {
	bin     string
	dir     string // config, keys, SQLite databases, JetStream, log
	name    string // "localhost:PORT", its Matrix server name
	port    int
	url     string // https://127.0.0.1:PORT, for the client API
	httpURL string // http://127.0.0.1:PORT2, plain HTTP (create-account's default client checks certificates)
	secret  string // registration shared secret
	logPath string
	client  *http.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	logFile *os.File
}

// newDendrite writes a config for a Dendrite in dir (not started yet).
func newDendrite(bin, dir string) (*dendrite, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &dendrite{
		bin: bin, dir: dir, port: port,
		name:    fmt.Sprintf("localhost:%d", port),
		url:     fmt.Sprintf("https://127.0.0.1:%d", port),
		secret:  randomString(24),
		logPath: filepath.Join(dir, "dendrite.log"),
		client: &http.Client{
			Timeout: 60 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // Dendrite's self-signed cert
				MaxIdleConnsPerHost: 16,
			},
		},
	}
	if _, _, err := writeSelfSigned(dir); err != nil {
		return nil, err
	}
	if err := writeMatrixKey(filepath.Join(dir, "matrix_key.pem")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "dendrite.yaml"), []byte(d.config()), 0o600); err != nil {
		return nil, err
	}
	return d, nil
}

// writeMatrixKey writes an ed25519 signing key in Dendrite's
// matrix_key.pem format: a "MATRIX PRIVATE KEY" PEM block holding the
// 32-byte seed, with a Key-ID header.
func writeMatrixKey(path string) error {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	block := &pem.Block{
		Type:    "MATRIX PRIVATE KEY",
		Headers: map[string]string{"Key-ID": "ed25519:" + randomString(6)},
		Bytes:   seed,
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

func randomString(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// config is Dendrite's YAML. Whatever is not set here keeps Dendrite's
// defaults (config.Load applies them before reading the file).
func (d *dendrite) config() string {
	db := func(name string) string {
		return fmt.Sprintf("\n  database:\n    connection_string: file:%s\n", filepath.Join(d.dir, name+".db"))
	}
	logging := "logging: []\n" // info to stderr
	if lvl := os.Getenv("INTEROP_DENDRITE_LOG"); lvl != "" {
		logging = fmt.Sprintf("logging:\n- type: file\n  level: %s\n  params:\n    path: %s\n", lvl, filepath.Join(d.dir, "logs"))
	}
	return `version: 2
global:
  server_name: ` + d.name + `
  private_key: ` + filepath.Join(d.dir, "matrix_key.pem") + `
  key_validity_period: 168h0m0s
  trusted_third_party_id_servers: []
  disable_federation: false
  presence:
    enable_inbound: true
    enable_outbound: true
  jetstream:
    storage_path: ` + filepath.Join(d.dir, "jetstream") + `
    in_memory: false
  metrics:
    enabled: false
  dns_cache:
    enabled: false
  server_notices:
    enabled: false
  report_stats:
    enabled: false
client_api:
  registration_disabled: true
  registration_shared_secret: "` + d.secret + `"
  guests_disabled: true
  rate_limiting:
    enabled: false
federation_api:` + db("federationapi") + `  disable_tls_validation: true
  key_perspectives: []
  prefer_direct_fetch: true
  deny_networks: []
  allow_networks:
  - 127.0.0.0/8
  - ::1/128
key_server:` + db("keyserver") + `media_api:` + db("mediaapi") + `  base_path: ` + filepath.Join(d.dir, "media") + `
room_server:` + db("roomserver") + `sync_api:` + db("syncapi") + `  search:
    enabled: false
user_api:
  bcrypt_cost: 4
  account_database:
    connection_string: file:` + filepath.Join(d.dir, "userapi.db") + `
relay_api:` + db("relayapi") + `mscs:` + db("mscs") + logging
}

// start runs Dendrite and waits until its client API answers.
func (d *dendrite) start() error {
	if d.running() {
		return errors.New("dendrite already running")
	}
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "=== interop harness: starting Dendrite %s as %s at %s\n", DendriteVersion, d.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(d.bin,
		"-config", filepath.Join(d.dir, "dendrite.yaml"),
		"-https-bind-address", fmt.Sprintf("127.0.0.1:%d", d.port),
		"-http-bind-address", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"-tls-cert", filepath.Join(d.dir, "tls.crt"),
		"-tls-key", filepath.Join(d.dir, "tls.key"),
	)
	cmd.Dir = d.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start dendrite: %w", err)
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.logFile, d.exited, d.exitErr = cmd, lf, exited, nil
	d.httpURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.exitErr = err
		d.mu.Unlock()
		close(exited)
	}()

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			d.mu.Lock()
			exitErr := d.exitErr
			d.mu.Unlock()
			d.reap()
			return fmt.Errorf("dendrite exited during startup (%v); log:\n%s", exitErr, d.logTail(0, 40))
		default:
		}
		resp, err := d.client.Get(d.url + "/_matrix/client/versions")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			d.stop()
			return fmt.Errorf("dendrite did not answer /_matrix/client/versions within 90s (last error %v); log:\n%s", err, d.logTail(0, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reap forgets a process that has exited.
func (d *dendrite) reap() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.logFile != nil {
		d.logFile.Close()
	}
	d.cmd, d.logFile = nil, nil
}

// stop ends Dendrite (SIGTERM, then SIGKILL after 10 s). Idempotent.
func (d *dendrite) stop() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	d.client.CloseIdleConnections()
	d.reap()
}

// running reports whether the process is still alive.
func (d *dendrite) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// logSize is the current length of the log, to show only what a test
// caused.
func (d *dendrite) logSize() int64 {
	st, err := os.Stat(d.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logTail returns up to n lines of the log written after offset from.
func (d *dendrite) logTail(from int64, n int) string {
	f, err := os.Open(d.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// watch prints Dendrite's log lines from the test's start if it fails, and
// fails the test if Dendrite died during it.
func (d *dendrite) watch(t *testing.T) {
	from := d.logSize()
	t.Cleanup(func() {
		if !d.running() {
			t.Errorf("Dendrite %s is not running at the end of the test", d.name)
		}
		if t.Failed() {
			t.Logf("Dendrite log during this test (last 80 lines; full log %s):\n%s", d.logPath, d.logTail(from, 80))
		}
	})
}

// startDendrite starts a Dendrite of the test's own, stopped at cleanup.
func startDendrite(t *testing.T) *dendrite {
	t.Helper()
	bin := needDendrite(t)
	d, err := newDendrite(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	d.watch(t)
	return d
}

// The shared Dendrite serves every test that does not restart it: its
// start-up (a few seconds) is paid once. Tests use their own users and
// rooms on it.
var shared struct {
	once sync.Once
	d    *dendrite
	dir  string
	err  error
}

func sharedDendrite(t *testing.T) *dendrite {
	t.Helper()
	bin := needDendrite(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "interop-dendrite-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		d, err := newDendrite(bin, dir)
		if err == nil {
			err = d.start()
		}
		shared.d, shared.err = d, err
	})
	if shared.err != nil {
		t.Fatalf("shared Dendrite: %v", shared.err)
	}
	if !shared.d.running() {
		t.Fatalf("shared Dendrite %s has died; log:\n%s", shared.d.name, shared.d.logTail(0, 60))
	}
	shared.d.watch(t)
	return shared.d
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.d != nil {
		shared.d.stop()
	}
	if shared.dir != "" {
		if code != 0 && os.Getenv("INTEROP_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "interop: kept the shared Dendrite's directory %s\n", shared.dir)
		} else {
			os.RemoveAll(shared.dir)
		}
	}
	os.Exit(code)
}

// ctx is a context for one call against a peer.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// logGrep returns the log lines written after offset from that contain
// substr (at most n of them).
func (d *dendrite) logGrep(from int64, substr string, n int) []string {
	var out []string
	for _, l := range strings.Split(d.logTail(from, 100000), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return out
}
