#!/usr/bin/env bash
# Starts a PostgreSQL server on 127.0.0.1 for tests and development, without Docker: the binaries are
# Debian's `postgresql` package (installed with apt-get when missing; needs root), the cluster is
# initdb'ed once into a scratch directory under .infra-cache/postgres (git-ignored). Idempotent: if
# the server of that port is already running, says so. Prints the DATABASE_URL to use.
#
# Environment (all optional):
#   PG_PORT           TCP port on 127.0.0.1        (default: the first free port from 5432)
#   PG_DATABASE       database created at init     (default cem)
#   PG_USER           its owner, a login role with CREATEROLE and CREATEDB (tests make a database
#                     each), not a superuser (default cem)
#   PG_PASSWORD       that role's password         (default cem: local development and CI only)
#   PG_OS_USER        OS user the server runs as when this script runs as root (default postgres)
#   PG_START_TIMEOUT  seconds to wait for the server (default 60)
#   PG_CACHE_DIR      run/data cache               (default <repo>/.infra-cache/postgres)
# Stop with infra/postgres/stop.sh [--clean].
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"

log() { echo "[postgres] $*"; }
die() { echo "[postgres] ERROR: $*" >&2; exit 1; }

# 0. The port: the given one, else the first free one from 5432.
if [[ -n "${PG_PORT:-}" ]]; then
  [[ "$PG_PORT" =~ ^[0-9]+$ ]] && ((PG_PORT >= 1 && PG_PORT <= 65535)) || die "PG_PORT=$PG_PORT is not a TCP port"
  pg_set_port "$PG_PORT"
else
  port=5432
  while true; do
    pg_set_port "$port"
    if pid="$(pg_running_pid)"; then break; fi # ours, already running
    pg_port_open "$port" || break
    ((port++ < 5532)) || die "no free port from 5432 to 5532; set PG_PORT"
  done
fi

if pid="$(pg_running_pid)"; then
  log "already running (pid $pid) on 127.0.0.1:$PG_PORT"
  echo "DATABASE_URL=$(pg_url)"
  exit 0
fi
if pg_port_open "$PG_PORT"; then
  die "port $PG_PORT is already in use by another process (not started by this script); set PG_PORT"
fi

# 1. Binaries: Debian's package, installed once.
if ! BIN="$(pg_bin_dir)"; then
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available"
  log "installing Debian's postgresql package (apt-get)"
  # no cluster of the package's own on 5432: this script makes its own
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  apt-get install -y -q -o Dpkg::Options::=--force-confold postgresql >/dev/null || die "apt-get install postgresql failed"
  BIN="$(pg_bin_dir)" || die "postgresql installed but no pg_ctl found under /usr/lib/postgresql"
fi
OWNER="$(pg_os_user)"
id "$OWNER" >/dev/null 2>&1 || die "OS user $OWNER does not exist (set PG_OS_USER)"

# 2. The cluster: initdb once. Its directory belongs to the server's OS user; when that user cannot
# reach the checkout (a private parent directory), the cluster goes to a scratch directory instead.
mkdir -p "$PG_RUN_DIR"
DATA="$(pg_data_dir || true)"
if [[ -z "$DATA" || ! -f "$DATA/PG_VERSION" ]]; then
  DATA="$PG_RUN_DIR/data"
  if [[ "$OWNER" != "$(id -un)" ]]; then
    chown "$OWNER" "$PG_RUN_DIR"
    if ! runuser -u "$OWNER" -- test -w "$PG_RUN_DIR"; then
      DATA="$(mktemp -d)/data"
      log "$OWNER cannot reach $PG_RUN_DIR: the cluster goes to $DATA"
    fi
    mkdir -p "$DATA"
    chown "$OWNER" "$DATA" "$(dirname "$DATA")"
  fi
  rm -rf "$DATA"
  log "initdb into $DATA (PostgreSQL $("$BIN/postgres" --version | awk '{print $3}'))"
  # C collation: text sorts and compares byte by byte, as in SQLite (keyset pagination, ISO instants)
  pg_as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C >"$PG_RUN_DIR/initdb.log" 2>&1 || { cat "$PG_RUN_DIR/initdb.log" >&2; die "initdb failed"; }
  echo "$DATA" >"$PG_DATA_FILE"
  fresh=true
else
  fresh=false
fi

# 3. Start: TCP on loopback only, the Unix socket inside the cluster directory (owner-only). The log
# goes next to the cluster, where the server's OS user can write.
PG_LOG_FILE="$(dirname "$DATA")/server.log"
log "starting on 127.0.0.1:$PG_PORT"
touch "$PG_LOG_FILE" && chown "$OWNER" "$PG_LOG_FILE" 2>/dev/null || true
AS_OWNER=()
[[ "$OWNER" == "$(id -un)" ]] || AS_OWNER=(runuser -u "$OWNER" --)
# its own session, so it outlives the caller's process group
setsid -w "${AS_OWNER[@]}" "$BIN/pg_ctl" start -D "$DATA" -l "$PG_LOG_FILE" -w -t "$PG_START_TIMEOUT" \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $DATA" >/dev/null 2>&1 </dev/null ||
  { tail -n 40 "$PG_LOG_FILE" >&2; die "the server did not start within ${PG_START_TIMEOUT}s"; }

# 4. The application's role and database, once.
if $fresh; then
  pg_as_owner "$BIN/psql" -h "$DATA" -p "$PG_PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
    -v user="$PG_USER" -v password="$PG_PASSWORD" -v db="$PG_DATABASE" >/dev/null <<'SQL' || die "creating the role and database failed"
CREATE ROLE :"user" LOGIN CREATEROLE CREATEDB PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
-- tests drop their databases WITH (FORCE), which may have to end other roles' sessions
GRANT pg_signal_backend TO :"user";
SQL
fi
pid="$(pg_running_pid)" || die "the server started but its pid is not readable"
log "ready on 127.0.0.1:$PG_PORT (pid $pid, ${SECONDS}s; log in $PG_LOG_FILE)"
echo "DATABASE_URL=$(pg_url)"
