#!/usr/bin/env bash
# Stops the PostgreSQL server started by infra/postgres/start.sh on PG_PORT (unset: every server this
# checkout started). `--clean` also deletes its cluster (databases, roles), so the next start runs
# initdb again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

clean=false
for arg in "$@"; do
  case "$arg" in
    --clean) clean=true ;;
    -h|--help) echo "usage: $0 [--clean]"; exit 0 ;;
    *) echo "[postgres] unknown argument: $arg (usage: $0 [--clean])" >&2; exit 2 ;;
  esac
done

if [[ -n "${PG_PORT:-}" ]]; then
  ports=("$PG_PORT")
else
  ports=()
  for dir in "$PG_CACHE_DIR"/run-*; do [[ -d "$dir" ]] && ports+=("${dir##*/run-}"); done
  [[ ${#ports[@]} -gt 0 ]] || { echo "[postgres] no server was started from this checkout"; exit 0; }
fi

for port in "${ports[@]}"; do
  pg_set_port "$port"
  data="$(pg_data_dir || true)"
  if pid="$(pg_running_pid)"; then
    echo "[postgres] stopping pid $pid (port $PG_PORT)"
    BIN="$(pg_bin_dir)"
    # fast: roll back open transactions and disconnect clients, then shut down cleanly
    pg_as_owner "$BIN/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null || {
      echo "[postgres] still running after 30s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    }
    echo "[postgres] stopped"
  else
    echo "[postgres] not running (port $PG_PORT)"
  fi
  if $clean; then
    [[ -n "$data" && "$data" != "$PG_RUN_DIR/data" ]] && rm -rf "$(dirname "$data")"
    rm -rf "$PG_RUN_DIR"
    echo "[postgres] removed the cluster of port $PG_PORT"
  fi
done
