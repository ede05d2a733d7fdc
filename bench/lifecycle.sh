#!/usr/bin/env bash
# Lifecycle benchmark: a steady request rate through tinycdn edge --config and through nginx
# proxy_cache (4 KiB cache hits from bench-app, HTTP/1.1 keep-alive, wrk with bench/steady.lua:
# each connection waits between requests, wrk has no --rate and wrk2 is not packaged), while
# each is
#   (a) reloaded 10 times (tinycdn: SIGHUP with a site added or removed each time; nginx:
#       `nginx -s reload` with a server block added or removed),
#   (b) upgraded to a new process (tinycdn: a second binary with --take-over on the upgrade
#       socket; nginx: the binary upgrade its documentation gives, USR2 then WINCH and QUIT to
#       the old master),
#   (c) stopped with a replacement started beside it (both on SO_REUSEPORT, nginx's
#       `listen ... reuseport`; the old one gets SIGTERM / `-s quit`).
# Each change happens inside a measured window; a window with no change before it is the steady
# state. Reported: failed requests (wrk's socket errors: connect, read, write, timeout; and
# non-2xx answers) and p99 latency of the window against steady. net.ipv4.tcp_migrate_req is set to 1 when the kernel has it (connections
# queued on a closing SO_REUSEPORT socket move to its sibling instead of being reset), and the
# replace change is also run with it at 0 to show what it does.
# Peers as their documentation recommends for production (bench/nginx.sh; no access log on either
# side). Writes target/bench/lifecycle.md and prints it.
# Usage: bench/lifecycle.sh [SECONDS per window, default 12] [REQUESTS/s in total, default 4000]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-12}"
rate="${2:-4000}"
conns=32
need() { command -v "$1" >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq "$2" >&2; }; }
need nginx nginx-light
need wrk wrk
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet -p tinycdn -p tinycdn-bench --manifest-path "$here/Cargo.toml"
R="$here/target/release"
w="$here/target/bench/lifecycle"
# Whatever an interrupted run left listening (on SO_REUSEPORT it would share the ports).
stale() {
  pkill -f "master process.*$w/" 2>/dev/null || true
  pkill -f "tinycdn edge --config $w/" 2>/dev/null || true
  sleep 0.5
}
stale
rm -rf "$w" && mkdir -p "$w/nginx/cache" "$w/nginx/tmp" "$w/nginx2" "$w/edge-cache"
. "$here/bench/servers.sh"
migrate=/proc/sys/net/ipv4/tcp_migrate_req
migrate_was=""
if [ -w "$migrate" ]; then migrate_was=$(cat "$migrate"); fi
set_migrate() { if [ -n "$migrate_was" ]; then echo "$1" >"$migrate"; fi; }
restore() {
  set_migrate "${migrate_was:-0}"
  stale
  cleanup
}
trap restore EXIT

start app "$R/bench-app" 127.0.0.1:0; app=$url
app_hostport=${app#http://}
tport=28190; nport=28191

# tinycdn: one default site in front of the app; a second site comes and goes on reloads.
edge_conf() { # with-extra-site(0|1)
  cat <<EOF
listen = "127.0.0.1:$tport"
reuse_port = true
upgrade_socket = "$w/edge.sock"
[limits]
drain_delay = 2
drain_timeout = 30
[cache]
dir = "$w/edge-cache"
size = "2GiB"
memory = "256MiB"
[[site]]
hosts = ["*"]
origin = "$app"
EOF
  if [ "$1" = 1 ]; then
    printf '[[site]]\nhosts = ["extra.example"]\norigin = "%s"\n' "$app"
  fi
}
edge_conf 0 >"$w/edge.toml"
# The running edge's pid is kept in a file: changes run in a background subshell.
tiny_start() { # NAME extra-args...
  local name="$1"; shift
  "$R/tinycdn" edge --config "$w/edge.toml" "$@" >"$w/$name.url" 2>"$w/$name.err" &
  echo $! >"$w/tiny.pid"
  for _ in $(seq 200); do [ -s "$w/$name.url" ] && break; sleep 0.05; done
}
gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
tiny_start edge-0

# nginx: bench/nginx.sh's production settings, listening with reuseport; a second server block
# comes and goes on reloads.
. "$here/bench/nginx.sh"
# nginx.conf in DIR (its pid, logs and temp files there), the cache in CACHE-DIR; the extra
# server goes inside http {}, whose closing brace is nginx_cache_conf's last line.
write_nginx() { # dir extra(0|1) cache-dir
  nginx_cache_conf "$1" "$nport" "$app_hostport" \
    | sed -e "s|listen 127.0.0.1:$nport;|listen 127.0.0.1:$nport reuseport;|" \
          -e "s|proxy_cache_path $1/cache|proxy_cache_path $3|" \
    | sed '$d' >"$1/nginx.conf"
  if [ "$2" = 1 ]; then
    # Listen options (reuseport) are given once per address: the first server block has them.
    printf '  server {\n    listen 127.0.0.1:%s;\n    server_name extra.example;\n    location / { proxy_pass http://app; proxy_cache edge; }\n  }\n' "$nport" >>"$1/nginx.conf"
  fi
  echo "}" >>"$1/nginx.conf"
}
write_nginx "$w/nginx" 0 "$w/nginx/cache"
mkdir -p "$w/nginx2/tmp"
# Started by its full path: the binary upgrade (USR2) executes argv[0] again.
NGINX=$(command -v nginx)
"$NGINX" -c "$w/nginx/nginx.conf"
tiny="http://127.0.0.1:$tport"; ngx="http://127.0.0.1:$nport"
for u in "$tiny" "$ngx"; do
  for _ in $(seq 100); do curl -s -o /dev/null "$u/b/4096/hot" && break; sleep 0.05; done
  curl -s -o /dev/null "$u/b/4096/hot"
done

# One measured window: wrk at $rate req/s in total over $conns keep-alive connections for $secs
# s, the change run in the background after a quarter of it. Appends a TSV row.
out="$w/results.tsv"; : >"$out"
window() { # peer change(steady|reload|upgrade|replace|replace-nomigrate) url
  local p="$1" change="$2" url="$3"
  ( sleep "$(echo "$secs / 4" | bc -l)"; "change_$p" "$change" ) >"$w/change-$p-$change.txt" 2>&1 &
  local changer=$!
  WRK_DELAY_MS=$((conns * 1000 / rate)) wrk -t2 -c"$conns" -d"${secs}s" --latency \
    -s "$here/bench/steady.lua" "$url/b/4096/hot" >"$w/wrk-$p-$change.txt" 2>&1 || true
  wait "$changer" || true
  printf '%s\t' "$change" >>"$out"
  python3 "$here/bench/wrk_row.py" "$p" "$w/wrk-$p-$change.txt" >>"$out"
}

# The changes.
change_tinycdn() {
  case "$1" in
    steady) ;;
    reload)
      for i in $(seq 10); do
        edge_conf $((i % 2)) >"$w/edge.toml.tmp" && mv "$w/edge.toml.tmp" "$w/edge.toml"
        kill -HUP "$(cat "$w/tiny.pid")"; sleep "$(echo "$secs / 24" | bc -l)"
      done
      edge_conf 0 >"$w/edge.toml" ;;
    upgrade)
      local old; old=$(cat "$w/tiny.pid")
      tiny_start "edge-up-$RANDOM" --take-over
      gone "$old" ;;
    replace*)
      local old; old=$(cat "$w/tiny.pid")
      tiny_start "edge-re-$RANDOM"
      kill -TERM "$old"; gone "$old" ;;
  esac
}
nginx_master() { cat "$1/nginx.pid"; }
echo "$w/nginx" >"$w/ngx.dir"
change_nginx() {
  local ngx_dir; ngx_dir=$(cat "$w/ngx.dir")
  case "$1" in
    steady) ;;
    reload)
      for i in $(seq 10); do
        write_nginx "$ngx_dir" $((i % 2)) "$w/nginx/cache"
        nginx -t -q -c "$ngx_dir/nginx.conf"
        nginx -c "$ngx_dir/nginx.conf" -s reload; sleep "$(echo "$secs / 24" | bc -l)"
      done
      write_nginx "$ngx_dir" 0 "$w/nginx/cache"
      nginx -c "$ngx_dir/nginx.conf" -s reload ;;
    upgrade)
      # nginx.org "Upgrading Executable on the Fly": USR2 starts a new master from the binary on
      # disk with the inherited sockets, WINCH stops the old workers gracefully, QUIT the old
      # master.
      local old; old=$(nginx_master "$ngx_dir")
      kill -USR2 "$old"
      for _ in $(seq 100); do [ -f "$ngx_dir/nginx.pid.oldbin" ] && [ -s "$ngx_dir/nginx.pid" ] && break; sleep 0.05; done
      sleep 0.5
      kill -WINCH "$old"; sleep 1; kill -QUIT "$old"; gone "$old" ;;
    replace*)
      local next="$w/nginx2"; [ "$ngx_dir" = "$w/nginx2" ] && next="$w/nginx"
      write_nginx "$next" 0 "$w/nginx/cache"
      "$NGINX" -c "$next/nginx.conf"
      sleep 0.3
      local old; old=$(nginx_master "$ngx_dir")
      nginx -c "$ngx_dir/nginx.conf" -s quit
      echo "$next" >"$w/ngx.dir"
      gone "$old" ;;
  esac
}

for change in steady reload upgrade steady replace replace-nomigrate; do
  if [ "$change" = replace-nomigrate ]; then set_migrate 0; else set_migrate 1; fi
  window tinycdn "$change" "$tiny"
  window nginx "$change" "$ngx"
done
set_migrate "${migrate_was:-0}"

python3 - "$out" "$secs" "$rate" "${migrate_was:-absent}" >"$w/../lifecycle.md" <<'PY'
import sys
rows, secs, rate, migrate = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
by = {}
for line in open(rows):
    c, p, rps, gibs, p50, p99, bad = line.rstrip("\n").split("\t")
    by.setdefault((p, c), []).append((float(rps) * float(secs), int(bad), float(p50), float(p99)))
print(f"# Reload, upgrade, replace under a steady {rate} req/s ({secs} s windows)\n")
print(f"4 KiB cache hits over 32 keep-alive HTTP/1.1 connections (wrk with bench/steady.lua); tcp_migrate_req was {migrate} before the run.\n")
print("| peer | change | requests | failed | p50 ms | p99 ms | p99 / steady |")
print("|---|---|---|---|---|---|---|")
for p in ["tinycdn", "nginx"]:
    steady = sorted(x[3] for x in by.get((p, "steady"), []))
    base = steady[len(steady) // 2] if steady else 0
    for c in ["steady", "reload", "upgrade", "replace", "replace-nomigrate"]:
        for done, failed, p50, p99 in by.get((p, c), []):
            ratio = f"{p99 / base:.2f}x" if base else "-"
            name = {"reload": "reload x10", "replace": "replace (tcp_migrate_req=1)", "replace-nomigrate": "replace (tcp_migrate_req=0)"}.get(c, c)
            print(f"| {p} | {name} | {done:,.0f} | {failed} | {p50:.2f} | {p99:.2f} | {ratio} |")
PY
cat "$w/../lifecycle.md"
