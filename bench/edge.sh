#!/usr/bin/env bash
# Edge benchmark: tinycdn edge in front of tinycdn origin vs nginx proxy_cache in front of an
# nginx origin, same files, same machine, same load tool (wrk) and concurrency, in one run.
# Cache hits for 4 KiB and 256 KiB objects (req/s, p50/p99), a 64 MiB object (GiB/s), cold-miss
# latency, peak RSS of each server. Writes target/bench/edge.md and prints it.
# Peers installed from Debian: nginx, wrk. Usage: bench/edge.sh [SECONDS per run, default 10]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"
command -v nginx >/dev/null || apt-get install -y -qq nginx-light >&2
command -v wrk >/dev/null || apt-get install -y -qq wrk >&2
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
w="$here/target/bench/edge"
rm -rf "$w" && mkdir -p "$w/files" "$w/nginx/cache" "$w/nginx/tmp"
python3 - "$w/files" <<'PY'
import os, sys, random
r = random.Random(1)
d = sys.argv[1]
for name, size in [("small.bin", 4096), ("medium.bin", 256 * 1024), ("large.bin", 64 << 20), ("cold.bin", 256 * 1024), ("cold2.bin", 256 * 1024)]:
    open(os.path.join(d, name), "wb").write(r.randbytes(size))
PY
"$T" init --store "$w/store" >/dev/null
"$T" key generate --out "$w/k" >/dev/null
version=$("$T" --json publish "$w/files" --store "$w/store" --volume bench --tag t --key "$w/k" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$T" serve --store "$w/store" --listen 127.0.0.1:17070 >/dev/null 2>&1 & pids+=($!); origin_pid=$!
sleep 0.5
"$T" edge --upstream http://127.0.0.1:17070 --trust "$w/k.pub" --cache-dir "$w/edge-cache" \
  --cache-size 2GiB --memory 512MiB --listen 127.0.0.1:18080 >/dev/null 2>&1 & pids+=($!); edge_pid=$!

cat >"$w/nginx/nginx.conf" <<NGX
worker_processes auto;
pid $w/nginx/nginx.pid;
error_log $w/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path $w/nginx/tmp; proxy_temp_path $w/nginx/tmp;
  fastcgi_temp_path $w/nginx/tmp; uwsgi_temp_path $w/nginx/tmp; scgi_temp_path $w/nginx/tmp;
  proxy_cache_path $w/nginx/cache levels=1:2 keys_zone=edge:64m max_size=2g inactive=1d use_temp_path=off;
  server { listen 127.0.0.1:27070; root $w/files; etag on; }
  server {
    listen 127.0.0.1:28080;
    location / {
      proxy_pass http://127.0.0.1:27070;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache edge; proxy_cache_valid 200 206 1d; proxy_cache_lock on;
      proxy_buffering on;
    }
  }
}
NGX
nginx -c "$w/nginx/nginx.conf"
sleep 0.5
nginx_pids() { pgrep -f "nginx.*$w/nginx/nginx.conf" || true; pgrep -P "$(cat "$w/nginx/nginx.pid")" || true; }

tiny="/v/bench@$version"
ngx=""
cold() { curl -s -o /dev/null -w '%{time_total}' "$1"; }
cold_tiny=$(cold "http://127.0.0.1:18080$tiny/cold.bin")
cold_ngx=$(cold "http://127.0.0.1:28080/cold.bin")
# A second cold file of a version the edge already knows: no manifest fetch this time.
cold_tiny2=$(cold "http://127.0.0.1:18080$tiny/cold2.bin")
cold_ngx2=$(cold "http://127.0.0.1:28080/cold2.bin")
for f in small.bin medium.bin large.bin; do
  curl -s -o /dev/null "http://127.0.0.1:18080$tiny/$f"; curl -s -o /dev/null "http://127.0.0.1:18080$tiny/$f"
  curl -s -o /dev/null "http://127.0.0.1:28080/$f"; curl -s -o /dev/null "http://127.0.0.1:28080/$f"
done
cmp <(curl -s "http://127.0.0.1:18080$tiny/large.bin") "$w/files/large.bin"
cmp <(curl -s "http://127.0.0.1:28080/large.bin") "$w/files/large.bin"

out="$w/results.tsv"; : >"$out"
run() { # name url connections
  wrk -t2 -c"$3" -d"${secs}s" --latency "$2" >"$w/wrk.txt" 2>&1
  python3 - "$1" "$w/wrk.txt" >>"$out" <<'PY'
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
tr = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", text)
bps = float(tr.group(1)) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[tr.group(2)]
p = {k: unit(v, u) for k, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text)}
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{name}\t{rps:.0f}\t{bps / (1 << 30):.3f}\t{p.get('50', 0):.3f}\t{p.get('99', 0):.3f}\t{errs.group(1) if errs else 0}")
PY
}
for round in 1 2; do
  run "tinycdn 4KiB" "http://127.0.0.1:18080$tiny/small.bin" 64
  run "nginx 4KiB" "http://127.0.0.1:28080/small.bin" 64
  run "tinycdn 256KiB" "http://127.0.0.1:18080$tiny/medium.bin" 64
  run "nginx 256KiB" "http://127.0.0.1:28080/medium.bin" 64
  run "tinycdn 64MiB" "http://127.0.0.1:18080$tiny/large.bin" 4
  run "nginx 64MiB" "http://127.0.0.1:28080/large.bin" 4
done
rss() { local t=0; for p in "$@"; do v=$(awk '/VmHWM/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0); t=$((t + v)); done; echo $((t / 1024)); }
rss_edge=$(rss "$edge_pid"); rss_origin=$(rss "$origin_pid")
rss_ngx=$(rss $(nginx_pids | sort -u))
nginx -c "$w/nginx/nginx.conf" -s stop || true
python3 - "$out" "$cold_tiny" "$cold_ngx" "$rss_edge" "$rss_origin" "$rss_ngx" "$cold_tiny2" "$cold_ngx2" >"$here/target/bench/edge.md" <<'PY'
import sys, collections, statistics
path, ct, cn, re_, ro, rn, ct2, cn2 = sys.argv[1:]
rows = collections.OrderedDict()
for line in open(path):
    name, rps, gbs, p50, p99, errs = line.split("\t")
    rows.setdefault(name, []).append((float(rps), float(gbs), float(p50), float(p99), int(errs)))
print("| run (cache hit, wrk -t2) | req/s | GiB/s | p50 ms | p99 ms | non-2xx |")
print("|---|---|---|---|---|---|")
best = {}
for name, v in rows.items():
    rps = statistics.median(x[0] for x in v); gbs = statistics.median(x[1] for x in v)
    p50 = statistics.median(x[2] for x in v); p99 = statistics.median(x[3] for x in v)
    best[name] = (rps, gbs, p50, p99)
    print(f"| {name} | {rps:.0f} | {gbs:.2f} | {p50:.2f} | {p99:.2f} | {sum(x[4] for x in v)} |")
print()
for size in ["4KiB", "256KiB", "64MiB"]:
    t, n = best[f"tinycdn {size}"], best[f"nginx {size}"]
    print(f"- {size}: tinycdn/nginx req/s {t[0] / n[0]:.2f}x, GiB/s {t[1] / n[1] if n[1] else 0:.2f}x, p99 {t[3]:.2f} ms vs {n[3]:.2f} ms")
print(f"- cold miss (256 KiB, first request through an empty cache, including the manifest fetch and signature check): tinycdn {float(ct) * 1000:.1f} ms, nginx {float(cn) * 1000:.1f} ms")
print(f"- cold miss of a second file of the same version: tinycdn {float(ct2) * 1000:.1f} ms, nginx {float(cn2) * 1000:.1f} ms")
print(f"- peak RSS: tinycdn edge {re_} MiB (+ origin {ro} MiB), nginx (all processes, both servers) {rn} MiB")
PY
cat "$here/target/bench/edge.md"
