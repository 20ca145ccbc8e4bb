#!/usr/bin/env bash
# Sets up a local PostgreSQL server for the storage/postgres tests and prints
# the line that points the tests at it:
#
#   export HS_POSTGRES_DSN='postgres://hs:hs@127.0.0.1:5432/hs?sslmode=disable'
#
# From another script under `set -e`, give it a file to write the line to
# (the first argument, or HS_POSTGRES_ENV_FILE) and source that file:
#
#   bash .ci/postgres.sh /tmp/hs_postgres.env
#   . /tmp/hs_postgres.env
#
# (`eval "$(bash .ci/postgres.sh)"` works too, by hand, but a failure inside
# $(...) does not stop a `set -e` script there.) Everything else the script
# says goes to stderr, so stdout carries only the export line.
#
# Idempotent: it installs postgresql only when missing (Debian packages),
# creates the newest installed cluster only if there is none, starts it only
# if it is down, and creates the role and database only if they do not
# exist. Run it as root (as CI does) or as a user with sudo.
#
# Settings, all optional: HS_PG_ROLE (hs), HS_PG_PASSWORD (hs), HS_PG_DB (hs).
set -euo pipefail

role="${HS_PG_ROLE:-hs}"
password="${HS_PG_PASSWORD:-hs}"
db="${HS_PG_DB:-hs}"
out="${1:-${HS_POSTGRES_ENV_FILE:-}}"

log() { echo "postgres.sh: $*" >&2; }

case "$role$db" in
*[!a-z0-9_]*) log "HS_PG_ROLE and HS_PG_DB must be lowercase letters, digits and _"; exit 2 ;;
esac
case "$password" in
*\'*) log "HS_PG_PASSWORD must not contain a single quote"; exit 2 ;;
esac

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# 1. Install.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql"
  as_root apt-get update >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y postgresql >&2
fi

# 2. Pick the newest installed version; make sure it has a cluster.
ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
  log "creating cluster $ver/main"
  as_root pg_createcluster "$ver" main >&2
fi

# 3. Start it unless it is up.
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online" { up = 1 } END { exit !up }'; then
  log "starting cluster $ver/main"
  as_root pg_ctlcluster "$ver" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $3 }')"

ready=0
for _ in $(seq 1 60); do
  if pg_isready -q -h 127.0.0.1 -p "$port"; then ready=1; break; fi
  sleep 0.5
done
if [ "$ready" -ne 1 ]; then
  log "the server on port $port did not come up"
  exit 1
fi

# 4. Role and database. The role may create databases (each test makes its
# own and drops it) and end other sessions (pg_signal_backend: the tests'
# DROP DATABASE ... WITH (FORCE) must end an autovacuum worker that happens
# to be on the database) but is not a superuser.
psql_admin() { as_postgres psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@"; }
psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
  ELSE
    ALTER ROLE $role LOGIN CREATEDB PASSWORD '$password';
  END IF;
  GRANT pg_signal_backend TO $role;
END \$\$;" >&2
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
  log "creating database $db"
  psql_admin -c "CREATE DATABASE $db OWNER $role" >&2
fi

dsn="postgres://$role:$password@127.0.0.1:$port/$db?sslmode=disable"
line="export HS_POSTGRES_DSN='$dsn'"
if [ -n "$out" ]; then
  echo "$line" >"$out"
  log "wrote the DSN to $out"
fi
echo "$line"
