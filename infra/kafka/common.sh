# Shared settings for infra/kafka/start.sh and stop.sh (sourced, not executed).
# Every path is derived from the repository root, so the scripts work from any working directory.

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"

KAFKA_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_REPO_ROOT="$(cd "$KAFKA_SCRIPT_DIR/../.." && pwd)"
# Cache (git-ignored): jars once per Kafka version, one run directory per broker port so several
# brokers (e.g. two checkouts) can coexist on one machine.
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$KAFKA_REPO_ROOT/.infra-cache/kafka}"
KAFKA_LIB_DIR="$KAFKA_CACHE_DIR/lib-$KAFKA_VERSION"
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_CACHE_DIR/run-$KAFKA_PORT}"
KAFKA_DATA_DIR="$KAFKA_RUN_DIR/data"
KAFKA_PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
KAFKA_LOG_FILE="$KAFKA_RUN_DIR/broker.log"

kafka_java() {
  if [[ -n "${JAVA_HOME:-}" ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

# True if the pid file names a live Kafka broker process (guards against recycled pids).
kafka_running_pid() {
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
kafka_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
