#!/usr/bin/env bash
# Stops the broker started by infra/kafka/start.sh (same KAFKA_PORT). `--clean` also deletes its
# data directory (topics, offsets, KRaft metadata); the jar cache is kept.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

clean=false
for arg in "$@"; do
  case "$arg" in
    --clean) clean=true ;;
    -h|--help) echo "usage: $0 [--clean]"; exit 0 ;;
    *) echo "[kafka] unknown argument: $arg (usage: $0 [--clean])" >&2; exit 2 ;;
  esac
done
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

if pid="$(kafka_running_pid)"; then
  echo "[kafka] stopping pid $pid (port $KAFKA_PORT)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "[kafka] still running after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  echo "[kafka] stopped"
else
  echo "[kafka] not running (port $KAFKA_PORT)"
fi
rm -f "$KAFKA_PID_FILE"

if $clean; then
  rm -rf "$KAFKA_DATA_DIR"
  echo "[kafka] removed data directory $KAFKA_DATA_DIR"
fi
