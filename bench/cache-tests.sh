#!/usr/bin/env bash
# The public HTTP cache test suite (cache-tests.fyi, npm package http-cache-tests, pinned) against
# tinycdn edge --origin and nginx proxy_cache (bench/nginx.sh's production configuration) in front
# of the suite's own server, one after the other in one run. Prints, per cache, how many required
# tests pass (dependencies honoured, as the suite's own report does) and which fail; the full
# results are left in target/bench/cache-tests/*.json.
# Usage: bench/cache-tests.sh [CACHES, default "tinycdn nginx"]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
caches="${1:-tinycdn nginx}"
w="$here/target/bench/cache-tests"
suite_version=0.4.5
need() { command -v "$1" >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq "$2" >&2; }; }
need node nodejs
need npm npm
need nginx nginx-light
mkdir -p "$w"
if [ ! -d "$w/node_modules/http-cache-tests" ]; then
  (cd "$w" && npm install --silent --no-audit --no-fund "http-cache-tests@$suite_version" >&2)
fi
cp "$here/bench/cache-tests/summary.mjs" "$w/summary.mjs"
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
suite="$w/node_modules/http-cache-tests"
rm -rf "$w/nginx" && mkdir -p "$w/nginx/cache" "$w/nginx/tmp"

. "$here/bench/servers.sh"
port=28200
(cd "$suite" && npm_config_protocol=http npm_config_port=$port npm_config_pidfile="$w/server.pid" \
  exec node server/server.mjs >"$w/server.log" 2>&1) & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

run_suite() { # name base-url
  (cd "$suite" && npm_config_base="$2" npm_package_config_id= node --no-warnings cli.mjs) >"$w/$1.json"
}
for c in $caches; do
  case "$c" in
    tinycdn)
      start edge "$here/target/release/tinycdn" edge --origin "http://127.0.0.1:$port" --listen 127.0.0.1:0
      run_suite tinycdn "$url"
      kill "$pid" ;;
    nginx)
      . "$here/bench/nginx.sh"
      nginx_cache_conf "$w/nginx" 28201 "127.0.0.1:$port" >"$w/nginx/nginx.conf"
      nginx -c "$w/nginx/nginx.conf"
      for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:28201/" && break; sleep 0.1; done
      run_suite nginx "http://127.0.0.1:28201"
      nginx -c "$w/nginx/nginx.conf" -s stop ;;
    *) echo "unknown cache $c (tinycdn or nginx)" >&2; exit 2 ;;
  esac
done
(cd "$w" && for c in $caches; do node summary.mjs "$c.json"; done)
