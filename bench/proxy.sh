#!/usr/bin/env bash
# Proxy benchmark: tinycdn edge --origin against nginx proxy_cache and Varnish, all three in front
# of the same application (target/release/bench-app), plus the plainest hyper server answering
# 4 KiB from memory (target/release/hyper-ceiling) as the ceiling of this stack. In one run, rounds
# interleaved, medians reported:
#   - cache hits: req/s and p50/p99 for 4 KiB and 256 KiB bodies (wrk -t2 -c64), GiB/s for a
#     64 MiB body (wrk -t2 -c4);
#   - misses of an application that answers in 20 ms: every request a new URL (wrk -t2 -c8 with
#     bench/unique_paths.lua): latency and req/s;
#   - 1,000 concurrent requests for one cold URL (target/release/burst; the application takes
#     200 ms): how many reached the application.
# Peers, installed from Debian, configured as their documentation recommends for production:
# nginx with worker_processes auto, keep-alive to the application, proxy_cache_lock,
# proxy_cache_use_stale/background_update/revalidate; Varnish with malloc storage and its built-in
# VCL. No access logs anywhere (tinycdn writes none; Varnish logs to shared memory only).
# Writes target/bench/proxy.md and prints it. Usage: bench/proxy.sh [SECONDS per run, default 10] [ROUNDS, default 2]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"
rounds="${2:-2}"
need() { command -v "$1" >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq "$2" >&2; }; }
need nginx nginx-light
need varnishd varnish
need wrk wrk
cargo build --release --quiet -p tinycdn -p tinycdn-bench --manifest-path "$here/Cargo.toml"
R="$here/target/release"
w="$here/target/bench/proxy"
rm -rf "$w" && mkdir -p "$w/nginx/cache" "$w/nginx/tmp" "$w/varnish" "$w/edge-cache"

. "$here/bench/servers.sh"
start app "$R/bench-app" 127.0.0.1:0; app=$url
start ceiling "$R/hyper-ceiling" 127.0.0.1:0; ceiling=$url
app_hostport=${app#http://}
# The 1,000-request herd below comes from one address: without --max-connections-per-ip 0 the
# per-address cap (1,000 by default, bench/hostile.sh measures it) would refuse part of it.
start edge "$R/tinycdn" edge --origin "$app" --listen 127.0.0.1:0 --memory 512MiB \
  --max-connections-per-ip 0 \
  --cache-dir "$w/edge-cache" --cache-size 2GiB --max-object-size 256MiB
tiny=$url; edge_pid=$pid

. "$here/bench/nginx.sh"
nginx_cache_conf "$w/nginx" 28081 "$app_hostport" >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
ngx="http://127.0.0.1:28081"
varnishd -F -a 127.0.0.1:28082 -b "$app_hostport" -s malloc,512m -n "$w/varnish" \
  >"$w/varnish.out" 2>&1 & pids+=($!); varnish_pid=$!
vsh="http://127.0.0.1:28082"
for _ in $(seq 100); do curl -s -o /dev/null "$vsh/b/1/x" && break; sleep 0.1; done
nginx_pids() { pgrep -f "nginx.*$w/nginx/nginx.conf" || true; pgrep -P "$(cat "$w/nginx/nginx.pid")" || true; }

declare -A peer=([tinycdn]="$tiny" [nginx]="$ngx" [varnish]="$vsh")
order=(tinycdn nginx varnish)
# Warm every cache, and check they serve the application's bytes.
for p in "${order[@]}"; do
  for size in 4096 262144 67108864; do
    curl -s -o /dev/null "${peer[$p]}/b/$size/hot"; curl -s -o /dev/null "${peer[$p]}/b/$size/hot"
  done
  cmp <(curl -s "${peer[$p]}/b/67108864/hot") <(curl -s "$app/b/67108864/hot")
done
curl -s -o /dev/null "$ceiling/"

out="$w/results.tsv"; : >"$out"
run() { # name url connections [script args...]: with script args, every request a new URL
  local name="$1" url="$2" c="$3"; shift 3
  if [ $# -gt 0 ]; then
    wrk -t2 -c"$c" -d"${secs}s" --latency -s "$here/bench/unique_paths.lua" "$url" -- "$@" >"$w/wrk.txt" 2>&1
  else
    wrk -t2 -c"$c" -d"${secs}s" --latency "$url" >"$w/wrk.txt" 2>&1
  fi
  python3 "$here/bench/wrk_row.py" "$name" "$w/wrk.txt" >>"$out"
}
herd="$w/herd.tsv"; : >"$herd"
for round in $(seq "$rounds"); do
  run "ceiling 4KiB" "$ceiling/" 64
  for p in "${order[@]}"; do run "$p 4KiB" "${peer[$p]}/b/4096/hot" 64; done
  for p in "${order[@]}"; do run "$p 256KiB" "${peer[$p]}/b/262144/hot" 64; done
  for p in "${order[@]}"; do run "$p 64MiB" "${peer[$p]}/b/67108864/hot" 4; done
  for p in "${order[@]}"; do
    run "$p miss 20ms" "${peer[$p]}/" 8 "$p-r$round" /slow/20/4096/
  done
  for p in "${order[@]}"; do
    path="/slow/200/262144/herd-$p-$round"
    res=$("$R/burst" "${peer[$p]#http://}" "$path" 1000 262144)
    origin=$(curl -s "$app/count$path")
    printf '%s\t%s\t%s\n' "$p" "$origin" "$res" >>"$herd"
  done
done
rss() { local t=0; for p in "$@"; do v=$(awk '/VmHWM/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0); t=$((t + v)); done; echo $((t / 1024)); }
rss_edge=$(rss "$edge_pid"); rss_ngx=$(rss $(nginx_pids | sort -u)); rss_vsh=$(rss $(pgrep -f "varnishd.*$w/varnish" | sort -u))
python3 - "$out" "$herd" "$rss_edge" "$rss_ngx" "$rss_vsh" >"$here/target/bench/proxy.md" <<'PY'
import sys, collections, statistics, json
path, herd, re_, rn, rv = sys.argv[1:]
rows = collections.OrderedDict()
for line in open(path):
    name, rps, gbs, p50, p99, errs = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((float(rps), float(gbs), float(p50), float(p99), int(errs)))
med = {n: tuple(statistics.median(x[i] for x in v) for i in range(4)) + (sum(x[4] for x in v),) for n, v in rows.items()}
print("| run (wrk -t2) | req/s | GiB/s | p50 ms | p99 ms | errors |")
print("|---|---|---|---|---|---|")
for n, (rps, gbs, p50, p99, errs) in med.items():
    print(f"| {n} | {rps:.0f} | {gbs:.2f} | {p50:.2f} | {p99:.2f} | {errs} |")
print()
t = med
def ratio(a, b, k):
    """Median over rounds of a/b (both measured in the same round, minutes apart at most)."""
    return statistics.median(x[k] / y[k] for x, y in zip(rows[a], rows[b]) if y[k])
for size in ["4KiB", "256KiB", "64MiB"]:
    a, b, c = t[f"tinycdn {size}"], t[f"nginx {size}"], t[f"varnish {size}"]
    k = 1 if size == "64MiB" else 0
    xn, xv = ratio(f"tinycdn {size}", f"nginx {size}", k), ratio(f"tinycdn {size}", f"varnish {size}", k)
    print(f"- {size} hits: tinycdn/nginx {xn:.2f}x, tinycdn/varnish {xv:.2f}x ({'GiB/s' if k else 'req/s'}, median of per-round ratios); p99 {a[3]:.2f} / {b[3]:.2f} / {c[3]:.2f} ms (tinycdn / nginx / varnish)")
print(f"- 4KiB hits: tinycdn at {ratio('tinycdn 4KiB', 'ceiling 4KiB', 0) * 100:.0f} % of the plain hyper server (median of per-round ratios; {t['ceiling 4KiB'][0]:.0f} req/s)")
for p in ["tinycdn", "nginx", "varnish"]:
    m = t[f"{p} miss 20ms"]
    print(f"- misses (application answers in 20 ms, 8 connections): {p} p50 {m[2]:.2f} ms, p99 {m[3]:.2f} ms, {m[0]:.0f} req/s")
print()
print("| 1,000 concurrent requests, one cold URL (application: 200 ms) | origin requests | 200s with the whole body | p50 ms | p99 ms |")
print("|---|---|---|---|---|")
for line in open(herd):
    p, origin, res = line.rstrip("\n").split("\t", 2)
    r = json.loads(res)
    print(f"| {p} | {origin.strip()} | {r['ok']} / {r['requests']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
print()
print(f"- peak RSS: tinycdn edge {re_} MiB, nginx (all processes) {rn} MiB, varnish (all processes) {rv} MiB")
PY
cat "$here/target/bench/proxy.md"
