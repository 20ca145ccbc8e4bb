package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
	"github.com/embedmatrix/homeserver/internal/selfsigned"
)

// Config is what chatd runs with: the command-line flags, and a few
// hooks for tests.
type Config struct {
	// ServerName is the Matrix server name. Empty means the address the
	// listener got (e.g. "127.0.0.1:8448").
	ServerName string
	// Listen is the HTTPS address, used when Listener is nil.
	Listen string
	// DB is chatd's own SQLite file. The homeserver's store and a
	// generated TLS pair go next to it (see sidecar).
	DB string
	// Users are the local users to create (names such as "alice").
	Users []string
	// TLSCert and TLSKey are PEM files. Both empty: a self-signed pair
	// is generated next to DB on first start and reused after.
	TLSCert, TLSKey string
	// InsecureSkipVerify turns off certificate checks towards other
	// servers. For development against self-signed peers only.
	InsecureSkipVerify bool
	// Logger receives chatd's and the homeserver's logs; nil discards.
	Logger *slog.Logger
	// Listener, when set, is used instead of listening on Listen.
	Listener net.Listener
	// TypingTimeout overrides the homeserver's typing timeout (tests).
	TypingTimeout time.Duration
}

// App is a running chatd: the homeserver, chatd's own store and the
// HTTPS server in front of both.
type App struct {
	cfg    Config
	log    *slog.Logger
	name   string
	hs     *homeserver.Server
	db     *hostDB
	events *notifier
	// profiles remembers failed profile look-ups (see profile.go).
	profiles profileCache
	srv      *http.Server
	ln       net.Listener
	served   chan struct{}
}

// sidecar returns a file next to the DB: "chat.db" + ".matrix.db" gives
// "chat.matrix.db".
func sidecar(db, suffix string) string {
	return strings.TrimSuffix(db, filepath.Ext(db)) + suffix
}

// run starts chatd: it opens its store, creates the configured users,
// starts the homeserver and serves everything on one HTTPS listener. The
// caller stops it with Close.
func run(ctx context.Context, cfg Config) (a *App, err error) {
	if cfg.DB == "" {
		return nil, errors.New("no -db given")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a = &App{cfg: cfg, log: log, events: newNotifier(), served: make(chan struct{})}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()

	a.ln = cfg.Listener
	if a.ln == nil {
		if a.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, err
		}
	}
	a.name = cfg.ServerName
	if a.name == "" {
		a.name = a.ln.Addr().String()
	}
	if err := os.MkdirAll(filepath.Dir(cfg.DB), 0o755); err != nil {
		return nil, err
	}
	cert, err := loadCertificate(cfg, a.name)
	if err != nil {
		return nil, err
	}
	if a.db, err = openHostDB(ctx, cfg.DB); err != nil {
		return nil, err
	}
	for _, u := range cfg.Users {
		if err := a.db.addUser(ctx, u); err != nil {
			return nil, err
		}
	}
	a.hs, err = homeserver.New(ctx, homeserver.Config{
		ServerName:         a.name,
		DatabasePath:       sidecar(cfg.DB, ".matrix.db"),
		Logger:             log,
		Hooks:              a.hooks(),
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		TypingTimeout:      cfg.TypingTimeout,
		// chatd's users table says who exists: other servers asking for
		// anyone else's profile or devices get 404.
		UserExists: a.db.hasUser,
	})
	if err != nil {
		return nil, err
	}
	// Every user must be a valid Matrix user of this server.
	for _, u := range cfg.Users {
		if _, err := a.hs.UserID(u); err != nil {
			return nil, fmt.Errorf("user %q: %w", u, err)
		}
	}
	a.srv = &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(a.served)
		if err := a.srv.ServeTLS(a.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
		}
	}()
	log.Info("chatd started", "server_name", a.name, "addr", a.Addr(), "db", cfg.DB)
	return a, nil
}

// ServerName is the Matrix server name.
func (a *App) ServerName() string { return a.name }

// Addr is the address the HTTPS listener is bound to.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Close stops serving (ending live-update streams), then closes the
// homeserver and chatd's store.
func (a *App) Close() error {
	return a.closeAll()
}

func (a *App) closeAll() error {
	a.events.close()
	var errs []error
	if a.srv != nil {
		errs = append(errs, a.srv.Close())
		<-a.served
	} else if a.ln != nil {
		a.ln.Close()
	}
	if a.hs != nil {
		errs = append(errs, a.hs.Close())
	}
	if a.db != nil {
		errs = append(errs, a.db.close())
	}
	return errors.Join(errs...)
}

// loadCertificate reads the configured pair, or generates a self-signed
// one next to the DB on first start and reuses it after.
func loadCertificate(cfg Config, serverName string) (tls.Certificate, error) {
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" {
		certFile, keyFile = sidecar(cfg.DB, ".tls.crt"), sidecar(cfg.DB, ".tls.key")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			host := serverName
			if h, _, err := net.SplitHostPort(serverName); err == nil {
				host = h
			}
			c, k, err := selfsigned.PEM(strings.Trim(host, "[]"))
			if err != nil {
				return tls.Certificate{}, err
			}
			if err := os.WriteFile(keyFile, k, 0o600); err != nil {
				return tls.Certificate{}, err
			}
			if err := os.WriteFile(certFile, c, 0o644); err != nil {
				return tls.Certificate{}, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS pair %s, %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}
