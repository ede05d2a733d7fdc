# Sourced by the bench scripts: start NAME COMMAND... runs a server that prints its URL on its
# first stdout line, in the background (stdout to $w/NAME.url, stderr to $w/NAME.err), adds its
# pid to the caller's pids array (stopped by the caller's trap), and sets $url and $pid.
start() {
  local name="$1"; shift
  "$@" >"$w/$name.url" 2>"$w/$name.err" & pid=$!; pids+=("$pid")
  for _ in $(seq 100); do [ -s "$w/$name.url" ] && break; sleep 0.05; done
  url=$(head -n1 "$w/$name.url")
}
