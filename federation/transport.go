package federation

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ResolveFunc maps a server name to the "host:port" to dial. Tests use it
// to point a server name at a loopback port. It returns "" to fall back to
// the spec's server discovery.
type ResolveFunc func(ctx context.Context, serverName string) (addr string, err error)

// TransportConfig configures outbound HTTPS.
type TransportConfig struct {
	// TLS is the base client TLS configuration (RootCAs, etc.). May be nil.
	TLS *tls.Config
	// InsecureSkipVerify disables certificate checks. Tests and local
	// development only: it lets anyone impersonate any server.
	InsecureSkipVerify bool
	// Resolve overrides server discovery when it returns an address.
	Resolve ResolveFunc
	// Timeout bounds each request. Zero means 30 s.
	Timeout time.Duration
}

// Transport is an http.RoundTripper for "matrix://server/path" URLs: it
// finds the server per the spec's discovery (or the Resolve override),
// connects over TLS with the right SNI, and sends the request with the
// server name as Host.
// https://spec.matrix.org/v1.16/server-server-api/#resolving-server-names
type Transport struct {
	cfg   TransportConfig
	inner *http.Transport
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport.
func NewTransport(cfg TransportConfig) *Transport {
	t := &Transport{cfg: cfg}
	t.inner = &http.Transport{
		DialTLSContext:        t.dialTLS,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return t
}

// CloseIdleConnections closes idle pooled connections.
func (t *Transport) CloseIdleConnections() { t.inner.CloseIdleConnections() }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "matrix" && r.URL.Scheme != "matrix-federation" {
		return t.inner.RoundTrip(r)
	}
	u := *r.URL
	u.Scheme = "https"
	// The URL host carries the exact server name, hex-encoded, to dialTLS
	// (and keys the connection pool): "example.org" and "example.org:443"
	// resolve differently per the spec, though both would dial port 443.
	u.Host = hex.EncodeToString([]byte(r.URL.Host)) + serverNameSuffix
	r2 := r.Clone(r.Context())
	r2.URL = &u
	r2.Host = r.URL.Host // the Host header is the server name
	return t.inner.RoundTrip(r2)
}

// serverNameSuffix ends the placeholder host a server name travels in.
const serverNameSuffix = ".matrix-server.invalid:443"

// dialTLS resolves the server name encoded in addr and opens a TLS
// connection to it.
func (t *Transport) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	enc, ok := strings.CutSuffix(addr, serverNameSuffix)
	name, err := hex.DecodeString(enc)
	if !ok || err != nil {
		return nil, fmt.Errorf("federation: unexpected dial address %q", addr)
	}
	server := string(name)
	dest, tlsName, err := t.resolve(ctx, server)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	raw, err := d.DialContext(ctx, network, dest)
	if err != nil {
		return nil, fmt.Errorf("federation: dial %s (%s): %w", server, dest, err)
	}
	cfg := &tls.Config{}
	if t.cfg.TLS != nil {
		cfg = t.cfg.TLS.Clone()
	}
	cfg.ServerName = tlsName
	if t.cfg.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("federation: TLS to %s: %w", server, err)
	}
	return conn, nil
}

// resolve returns the address to dial and the name the certificate must
// carry.
func (t *Transport) resolve(ctx context.Context, server string) (string, string, error) {
	host, _, ok := spec.ParseAndValidateServerName(spec.ServerName(server))
	if !ok {
		return "", "", fmt.Errorf("federation: invalid server name %q", server)
	}
	tlsName := strings.Trim(host, "[]")
	if t.cfg.Resolve != nil {
		addr, err := t.cfg.Resolve(ctx, server)
		if err != nil {
			return "", "", err
		}
		if addr != "" {
			return addr, tlsName, nil
		}
	}
	results, err := fclient.ResolveServer(ctx, spec.ServerName(server))
	if err != nil {
		return "", "", fmt.Errorf("federation: resolve %s: %w", server, err)
	}
	if len(results) == 0 {
		return "", "", fmt.Errorf("federation: no address for %s", server)
	}
	return results[0].Destination, results[0].TLSServerName, nil
}
