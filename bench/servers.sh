# Sourced by the bench scripts (after setting $w, their work folder). On exit every server
# `start` ran is stopped, and the nginx of $w/nginx/nginx.conf if one was started.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$w/nginx/nginx.conf" ]; then nginx -c "$w/nginx/nginx.conf" -s stop 2>/dev/null || true; fi
}
trap cleanup EXIT

# start NAME COMMAND... runs a server that prints its URL on its
# first stdout line, in the background (stdout to $w/NAME.url, stderr to $w/NAME.err), adds its
# pid to pids (stopped by the trap above), and sets $url and $pid.
start() {
  local name="$1"; shift
  "$@" >"$w/$name.url" 2>"$w/$name.err" & pid=$!; pids+=("$pid")
  for _ in $(seq 100); do [ -s "$w/$name.url" ] && break; sleep 0.05; done
  url=$(head -n1 "$w/$name.url")
}
