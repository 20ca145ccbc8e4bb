// Command minimal is an existing gorilla/mux server with routes of its own
// that mounts the embedded homeserver beside them and logs the messages
// that arrive from other Matrix servers. The homeserver part is
// mountMatrix: about 20 lines.
//
//	go run ./examples/minimal -server-name localhost:8448
//
// Without -tls-cert and -tls-key it serves a throwaway self-signed
// certificate, which other servers accept only with certificate checks
// off (see -insecure-skip-verify).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/embedmatrix/homeserver/internal/selfsigned"
	"github.com/gorilla/mux"
)

func main() {
	serverName := flag.String("server-name", "localhost:8448", "Matrix server name")
	listen := flag.String("listen", "127.0.0.1:8448", "HTTPS address")
	db := flag.String("db", "minimal.db", "the homeserver's SQLite file")
	certFile := flag.String("tls-cert", "", "TLS certificate (PEM); empty: self-signed")
	keyFile := flag.String("tls-key", "", "TLS key (PEM)")
	insecure := flag.Bool("insecure-skip-verify", false, "INSECURE: do not check other servers' certificates (development only)")
	flag.Parse()
	logger := log.New(os.Stderr, "", log.LstdFlags)

	// The host's router and its own routes, as they were before Matrix.
	r := mux.NewRouter()
	r.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "my chat server") })
	r.HandleFunc("/api/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	hs, err := mountMatrix(context.Background(), r, *serverName, *db, *insecure, logger)
	if err != nil {
		logger.Fatal(err)
	}
	defer hs.Close()

	srv := &http.Server{Addr: *listen, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	if *certFile == "" {
		cert, err := selfsigned.Certificate()
		if err != nil {
			logger.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	logger.Printf("serving %s on https://%s/", *serverName, *listen)
	logger.Fatal(srv.ListenAndServeTLS(*certFile, *keyFile))
}

// mountMatrix starts the homeserver and mounts it beside the host's
// routes. Inbound messages are logged through Hooks.
func mountMatrix(ctx context.Context, r *mux.Router, serverName, dbPath string, insecure bool, logger *log.Logger) (*homeserver.Server, error) {
	hs, err := homeserver.New(ctx, homeserver.Config{
		ServerName:         serverName,
		DatabasePath:       dbPath, // SQLite; the signing key lives here too
		InsecureSkipVerify: insecure,
		Hooks: homeserver.Hooks{
			OnMessage: func(_ context.Context, m homeserver.Message) {
				logger.Printf("matrix: %s in %s: %s", m.Sender, m.RoomID, m.Body)
			},
		},
	})
	if err != nil {
		return nil, err
	}
	// /_matrix/federation/..., /_matrix/key/... and /.well-known/matrix/server.
	hs.RegisterRoutes(r)
	return hs, nil
}
