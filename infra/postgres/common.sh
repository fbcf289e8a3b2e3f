# Shared settings for infra/postgres/start.sh and stop.sh (sourced, not executed).
# Every path is derived from the repository root, so the scripts work from any working directory.

PG_DATABASE="${PG_DATABASE:-cem}"
PG_USER="${PG_USER:-cem}"
# local development and CI only: the server listens on 127.0.0.1 and this password is in the URL
PG_PASSWORD="${PG_PASSWORD:-cem}"

PG_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_REPO_ROOT="$(cd "$PG_SCRIPT_DIR/../.." && pwd)"
# Cache (git-ignored): one run directory per port, so several servers (two checkouts) can coexist.
PG_CACHE_DIR="${PG_CACHE_DIR:-$PG_REPO_ROOT/.infra-cache/postgres}"

# The run directory of the server on port $PG_PORT (set PG_PORT first).
pg_set_port() {
  PG_PORT="$1"
  PG_RUN_DIR="$PG_CACHE_DIR/run-$PG_PORT"
  # where the cluster lives: written by start.sh (the run directory's data/, or a scratch directory
  # when the server's OS user cannot reach the checkout)
  PG_DATA_FILE="$PG_RUN_DIR/data-dir"
  PG_LOG_FILE="$PG_RUN_DIR/server.log"
}

# The binaries of the newest PostgreSQL installed from Debian's packages (postgresql-NN).
pg_bin_dir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$dir" && -x "$dir/pg_ctl" ]] || return 1
  echo "$dir"
}

# The server refuses to run as root: when we are root it runs as this user (Debian's package creates it).
pg_os_user() {
  if [[ "$(id -u)" == 0 ]]; then echo "${PG_OS_USER:-postgres}"; else id -un; fi
}

# Runs a command as the server's OS user.
pg_as_owner() {
  local user
  user="$(pg_os_user)"
  if [[ "$(id -un)" == "$user" ]]; then "$@"; else runuser -u "$user" -- "$@"; fi
}

pg_data_dir() {
  [[ -f "$PG_DATA_FILE" ]] && cat "$PG_DATA_FILE"
}

# The postmaster's pid if the cluster recorded in the run directory is running.
pg_running_pid() {
  local data pid
  data="$(pg_data_dir)" || return 1
  [[ -f "$data/postmaster.pid" ]] || return 1
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'postgres' || return 1
  echo "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
pg_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_url() {
  echo "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE"
}
