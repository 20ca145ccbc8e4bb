package interop

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fedProxy sits between our server and Dendrite on the federation path
// (our Config.Resolve points Dendrite's server name at it). It forwards
// every request unchanged, Host header included, and records each one with
// Dendrite's answer, so a test can assert what was delivered and
// acknowledged.
type fedProxy struct {
	t      *testing.T
	target *url.URL
	addr   string
	srv    *http.Server

	mu      sync.Mutex
	records []fedRecord
}

// fedRecord is one request our server sent to Dendrite.
type fedRecord struct {
	At       time.Time
	Method   string
	Path     string
	Body     []byte
	Status   int
	Response []byte
}

// fedTxn is a parsed /send transaction.
type fedTxn struct {
	ID   string
	PDUs []map[string]any
}

func startFedProxy(t *testing.T, d *dendrite) *fedProxy {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath, err := writeSelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(d.url)
	p := &fedProxy{t: t, target: target, addr: ln.Addr().String()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // Dendrite checks it against its server name
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	p.srv = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

func (p *fedProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := fedRecord{At: time.Now(), Method: r.Method, Path: r.URL.Path, Body: body}
		cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(cw, r)
		rec.Status, rec.Response = cw.status, cw.buf.Bytes()
		p.add(rec)
	})
}

func (p *fedProxy) add(rec fedRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, rec)
}

// all returns the records so far.
func (p *fedProxy) all() []fedRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]fedRecord(nil), p.records...)
}

// parseTxn parses a PUT /_matrix/federation/v1/send/{txnId} body.
func parseTxn(method, path string, body []byte) (fedTxn, bool) {
	const prefix = "/_matrix/federation/v1/send/"
	if method != http.MethodPut || !strings.HasPrefix(path, prefix) {
		return fedTxn{}, false
	}
	var b struct {
		PDUs []map[string]any `json:"pdus"`
	}
	if json.Unmarshal(body, &b) != nil {
		return fedTxn{}, false
	}
	return fedTxn{ID: strings.TrimPrefix(path, prefix), PDUs: b.PDUs}, true
}

// pduIs reports whether a PDU is an m.room.member event with this state
// key and membership.
func pduIs(pdu map[string]any, stateKey, membership string) bool {
	content, _ := pdu["content"].(map[string]any)
	return pdu["type"] == "m.room.member" && pdu["state_key"] == stateKey && content["membership"] == membership
}

type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.buf.Write(b)
	return c.ResponseWriter.Write(b)
}

// delivery is a /send transaction that carried one given event, with what
// the destination answered for it.
type delivery struct {
	Record fedRecord
	PDU    map[string]any // the PDU in the body
	// Result is the destination's answer for the event in the "pdus" map of
	// its response ("" absent from it; "{}" success; otherwise the error).
	Result string
	Listed bool // the response lists the event
}

// deliveries returns the /send transactions to Dendrite whose answer
// lists eventID, or whose body holds a
// PDU matching match. A v3+ PDU carries no event_id: the destination's
// answer, keyed by the ID it computed, names it.
func (p *fedProxy) deliveries(eventID string, match func(map[string]any) bool) []delivery {
	var out []delivery
	for _, r := range p.all() {
		txn, ok := parseTxn(r.Method, r.Path, r.Body)
		if !ok {
			continue
		}
		var res struct {
			PDUs map[string]json.RawMessage `json:"pdus"`
		}
		_ = json.Unmarshal(r.Response, &res)
		result, listed := res.PDUs[eventID]
		var pdu map[string]any
		for _, x := range txn.PDUs {
			if match != nil && match(x) {
				pdu = x
			}
		}
		if listed || pdu != nil {
			out = append(out, delivery{Record: r, PDU: pdu, Result: string(result), Listed: listed})
		}
	}
	return out
}

// sendRecords returns the forwarded PUT /send records.
func (p *fedProxy) sendRecords() []fedRecord {
	var out []fedRecord
	for _, r := range p.all() {
		if _, ok := parseTxn(r.Method, r.Path, r.Body); ok {
			out = append(out, r)
		}
	}
	return out
}

// waitDelivered waits until a /send to Dendrite answered HTTP 200 lists
// eventID in its answer, and returns that delivery.
func (p *fedProxy) waitDelivered(eventID string, match func(map[string]any) bool) (delivery, bool) {
	deadline := time.Now().Add(waitTimeout)
	for {
		for _, d := range p.deliveries(eventID, match) {
			if d.Record.Status == http.StatusOK && d.Listed {
				return d, true
			}
		}
		if time.Now().After(deadline) {
			return delivery{}, false
		}
		time.Sleep(25 * time.Millisecond)
	}
}
