# Shared by the service scripts: settings, the state directory, waiting for a port.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Defaults first, then whatever the caller exported wins.
while IFS='=' read -r key value; do
  case "$key" in ''|\#*) continue ;; esac
  [ -n "${!key+set}" ] || export "$key=$value"
done < "$here/defaults.env"

# Configs, data, sockets and logs of every service live here, never in /etc or /var/lib.
STATE=${WEIR_SERVICES_DIR:-/tmp/weir-services}
mkdir -p "$STATE"

say() { printf '[services] %s\n' "$*" >&2; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# reuse_running PORT NAME: a server that already answers is kept, and the script ends there.
reuse_running() {
  if listening "$1"; then
    say "$2 already answers on 127.0.0.1:$1"
    exit 0
  fi
}

# wait_for PORT NAME LOGFILE [SECONDS]: return once the port accepts, or show the log and fail.
wait_for() {
  local port=$1 name=$2 log=$3 deadline=$((SECONDS + ${4:-60}))
  until listening "$port"; do
    if [ $SECONDS -ge $deadline ]; then
      say "$name did not listen on 127.0.0.1:$port; the end of $log:"
      tail -n 30 "$log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# The suite's servers are disposable: a stale one (killed with the session that started it)
# is cleared and made anew rather than repaired.
kill_pidfile() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(head -n1 "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# as_service_user CMD...: PostgreSQL refuses to run as root.
as_service_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$SERVICE_USER" -- "$@"; else "$@"; fi
}
