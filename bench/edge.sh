#!/usr/bin/env bash
# Edge benchmark: tinycdn edge in front of tinycdn origin vs nginx proxy_cache in front of an
# nginx origin, same files, same machine, same load tool (wrk) and concurrency, in one run, rounds
# interleaved, medians reported. Cache hits on volume URLs — pinned to a version and through a tag,
# as a new user following the README would ask for them, under a trust root — for 4 KiB and
# 256 KiB objects (req/s, p50/p99) and a 64 MiB object (GiB/s); cold-miss latency; peak RSS.
# nginx is configured as its documentation recommends for production (worker_processes auto, which
# is 2 here; keep-alive to the origin; default keepalive_requests; sendfile), with no access log,
# like tinycdn, which writes none. Writes target/bench/edge.md and prints it.
# Peers installed from Debian: nginx, wrk. Usage: bench/edge.sh [SECONDS per run, default 10] [ROUNDS, default 3]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"
rounds="${2:-3}"
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
"$T" trust init --key "$w/k" --out "$w/trust.json" >/dev/null

. "$here/bench/servers.sh"
"$T" serve --store "$w/store" --listen 127.0.0.1:17070 >/dev/null 2>&1 & pids+=($!); origin_pid=$!
sleep 0.5
"$T" edge --upstream http://127.0.0.1:17070 --trust "$w/trust.json" --cache-dir "$w/edge-cache" \
  --cache-size 2GiB --memory 512MiB --listen 127.0.0.1:18080 >/dev/null 2>&1 & pids+=($!); edge_pid=$!

. "$here/bench/nginx.sh"
{ nginx_head "$w/nginx"; cat <<NGX
  upstream origin { server 127.0.0.1:27070; keepalive 64; }
  server { listen 127.0.0.1:27070; root $w/files; etag on; }
  server {
    listen 127.0.0.1:28080;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache edge; proxy_cache_valid 200 206 1d; proxy_cache_lock on;
      proxy_cache_revalidate on; proxy_cache_use_stale error timeout updating;
    }
  }
}
NGX
} >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
sleep 0.5
nginx_pids() { pgrep -f "nginx.*$w/nginx/nginx.conf" || true; pgrep -P "$(cat "$w/nginx/nginx.pid")" || true; }

tiny="/v/bench@$version"
tag="/v/bench@t"
ngx=""
cold() { curl -s -o /dev/null -w '%{time_total}' "$1"; }
cold_tiny=$(cold "http://127.0.0.1:18080$tiny/cold.bin")
cold_ngx=$(cold "http://127.0.0.1:28080/cold.bin")
# A second cold file of a version the edge already knows: no manifest fetch this time.
cold_tiny2=$(cold "http://127.0.0.1:18080$tiny/cold2.bin")
cold_ngx2=$(cold "http://127.0.0.1:28080/cold2.bin")
for f in small.bin medium.bin large.bin; do
  curl -s -o /dev/null "http://127.0.0.1:18080$tiny/$f"; curl -s -o /dev/null "http://127.0.0.1:18080$tiny/$f"
  curl -s -o /dev/null "http://127.0.0.1:18080$tag/$f"
  curl -s -o /dev/null "http://127.0.0.1:28080/$f"; curl -s -o /dev/null "http://127.0.0.1:28080/$f"
done
cmp <(curl -s "http://127.0.0.1:18080$tiny/large.bin") "$w/files/large.bin"
cmp <(curl -s "http://127.0.0.1:28080/large.bin") "$w/files/large.bin"

out="$w/results.tsv"; : >"$out"
run() { # name url connections
  wrk -t2 -c"$3" -d"${secs}s" --latency "$2" >"$w/wrk.txt" 2>&1
  python3 "$here/bench/wrk_row.py" "$1" "$w/wrk.txt" >>"$out"
}
for round in $(seq "$rounds"); do
  run "tinycdn 4KiB" "http://127.0.0.1:18080$tiny/small.bin" 64
  run "tinycdn 4KiB tag" "http://127.0.0.1:18080$tag/small.bin" 64
  run "nginx 4KiB" "http://127.0.0.1:28080/small.bin" 64
  run "tinycdn 256KiB" "http://127.0.0.1:18080$tiny/medium.bin" 64
  run "tinycdn 256KiB tag" "http://127.0.0.1:18080$tag/medium.bin" 64
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
    name, rps, gbs, p50, p99, errs = line.rstrip("\n").split("\t")
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
def ratio(a, b, k):
    """Median over rounds of a/b (both measured in the same round)."""
    return statistics.median(x[k] / y[k] for x, y in zip(rows[a], rows[b]) if y[k])
for size in ["4KiB", "4KiB tag", "256KiB", "256KiB tag", "64MiB"]:
    t, n = best[f"tinycdn {size}"], best[f"nginx {size.split()[0]}"]
    a, b = f"tinycdn {size}", f"nginx {size.split()[0]}"
    print(f"- {size}: tinycdn/nginx req/s {ratio(a, b, 0):.2f}x, GiB/s {ratio(a, b, 1):.2f}x (medians of per-round ratios), p99 {t[3]:.2f} ms vs {n[3]:.2f} ms")
print(f"- cold miss (256 KiB, first request through an empty cache, including the manifest fetch and signature check): tinycdn {float(ct) * 1000:.1f} ms, nginx {float(cn) * 1000:.1f} ms")
print(f"- cold miss of a second file of the same version: tinycdn {float(ct2) * 1000:.1f} ms, nginx {float(cn2) * 1000:.1f} ms")
print(f"- peak RSS: tinycdn edge {re_} MiB (+ origin {ro} MiB), nginx (all processes, both servers) {rn} MiB")
PY
cat "$here/target/bench/edge.md"
