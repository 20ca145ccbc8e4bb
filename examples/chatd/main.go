// Command chatd is a demo chat backend that embeds the homeserver. It plays
// the part of a host: it has its own users, channels, DMs, group DMs and
// roles, keeps its own data in a SQLite file, serves a JSON API and a web
// page, and federates its rooms with other Matrix servers, all on one
// HTTPS listener.
//
// There is no real authentication: the acting user is whatever the
// X-User header names. Run it on loopback or a trusted network only.
//
//	go run ./examples/chatd -users alice,bob
//
// See README.md next to this file for two federated instances.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	var cfg Config
	var users string
	flag.StringVar(&cfg.ServerName, "server-name", "", "Matrix server name, e.g. localhost:8448 (default: the -listen address)")
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8448", "HTTPS address to listen on (federation, API and web page)")
	flag.StringVar(&cfg.DB, "db", "chatd.db", "chatd's SQLite file; the homeserver's store, and a generated TLS pair, go next to it")
	flag.StringVar(&users, "users", "alice,bob", "comma-separated local users to create")
	flag.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM); without it a self-signed pair is generated next to -db and reused")
	flag.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM) for -tls-cert")
	flag.BoolVar(&cfg.InsecureSkipVerify, "insecure-skip-verify", false, "INSECURE: do not check other servers' TLS certificates (development against self-signed peers only)")
	verbose := flag.Bool("v", false, "log the homeserver's debug messages")
	flag.Parse()
	for _, u := range strings.Split(users, ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.Users = append(cfg.Users, u)
		}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatd:", err)
		os.Exit(1)
	}
	fmt.Printf("chatd: server %s listening on https://%s/ (users: %s)\n", app.ServerName(), app.Addr(), strings.Join(cfg.Users, ","))
	<-ctx.Done()
	if err := app.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "chatd: close:", err)
		os.Exit(1)
	}
}
