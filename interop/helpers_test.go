package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait for something to arrive over federation.
const waitTimeout = 30 * time.Second

// writeSelfSigned writes a self-signed certificate and its key (PEM) for
// localhost, 127.0.0.1 and ::1 into dir, and returns their paths.
func writeSelfSigned(dir string) (certPath, keyPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return "", "", err
	}
	tmpl := x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "embedmatrix interop (self-signed)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stamped is something observed, with when it was observed.
type stamped[T any] struct {
	V  T
	At time.Time
}

// feed collects what arrives (hooks on our side, /sync on Dendrite's),
// stamped with its arrival time, and lets a test wait for an item that
// matches a predicate. Items are kept, so a wait may find one that arrived
// before it started.
type feed[T any] struct {
	mu      sync.Mutex
	items   []stamped[T]
	changed chan struct{}
}

func newFeed[T any]() *feed[T] { return &feed[T]{changed: make(chan struct{})} }

func (f *feed[T]) add(v T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, stamped[T]{V: v, At: time.Now()})
	close(f.changed)
	f.changed = make(chan struct{})
}

// all returns a copy of everything seen so far.
func (f *feed[T]) all() []stamped[T] {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items)
}

// wait returns the first item matching pred, waiting up to timeout.
func (f *feed[T]) wait(timeout time.Duration, pred func(T) bool) (stamped[T], bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	next := 0
	for {
		f.mu.Lock()
		for ; next < len(f.items); next++ {
			if pred(f.items[next].V) {
				it := f.items[next]
				f.mu.Unlock()
				return it, true
			}
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return stamped[T]{}, false
		}
	}
}

// median of durations (the mean of the middle two for an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// eventually polls cond until it holds or waitTimeout passes.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(waitTimeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// knownBug skips a test of a known bug (it fails until the bug is fixed)
// unless INTEROP_KNOWN_BUGS=1.
func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("INTEROP_KNOWN_BUGS") != "1" {
		t.Skip("known bug: " + what + "; set INTEROP_KNOWN_BUGS=1 to run")
	}
}
