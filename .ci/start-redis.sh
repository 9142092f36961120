# Sourced by .ci/run: starts a throwaway Redis on 127.0.0.1 for the remote-cache tests and
# exports KILN_TEST_REDIS=redis://127.0.0.1:PORT/0. Installs redis-server with apt-get when it
# is missing (quietly; a failure only makes those tests skip). Returns non-zero on failure.
_kiln_start_redis() {
  if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
      >/dev/null 2>&1 || true
  fi
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "ci: redis-server is not installed" >&2
    return 1
  fi
  local dir port attempt
  dir="$(mktemp -d)"
  for attempt in 1 2 3 4 5; do
    # A random high port; a taken one fails to answer as ours (pidfile check) and we retry.
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis-$port.pid" --logfile "$dir/redis-$port.log" \
      >/dev/null 2>&1 || continue
    local waited
    for waited in $(seq 1 50); do
      if [ -s "$dir/redis-$port.pid" ] && redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        export KILN_TEST_REDIS="redis://127.0.0.1:$port/0"
        KILN_CI_REDIS_PORT="$port"
        trap 'redis-cli -h 127.0.0.1 -p "$KILN_CI_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
        echo "ci: Redis for the remote-cache tests at $KILN_TEST_REDIS (pid $(cat "$dir/redis-$port.pid"))"
        return 0
      fi
      sleep 0.1
    done
  done
  echo "ci: could not start redis-server (logs in $dir)" >&2
  return 1
}
_kiln_start_redis
