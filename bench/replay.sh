#!/usr/bin/env bash
# First-byte gain on real traffic: `tinycdn replay` sends the first N GET requests of two real
# traces (libCacheSim's Twitter and CloudPhysics traces, bench/traces.py) to an application that
# answers each object at its logged size after 20 ms (target/release/bench-app's /slow/20/SIZE/ID:
# an origin one cross-region round trip away), then to tinycdn's edge in front of it, then to
# nginx proxy_cache in front of it (configured as in bench/proxy.sh, the production settings of
# nginx's documentation; no access logs on either side). Two passes: the first with every cache
# cold (what the first replay of a day's traffic sees), the second warm, targets in reverse order.
# Paced at RATE requests/s with at most 32 in flight, so the numbers are latencies, not a load test.
# Writes target/bench/replay.md and prints it. Usage: bench/replay.sh [N, default 10000] [RATE, default 400]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-10000}"
rate="${2:-400}"
command -v nginx >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq nginx-light >&2; }
cargo build --release --quiet -p tinycdn -p tinycdn-bench --manifest-path "$here/Cargo.toml"
R="$here/target/release"
traces="$(python3 "$here/bench/traces.py")"
w="$here/target/bench/replay"
rm -rf "$w" && mkdir -p "$w/nginx/cache" "$w/nginx/tmp" "$w/edge-cache"
. "$here/bench/servers.sh"
start app "$R/bench-app" 127.0.0.1:0; app=$url
start edge "$R/tinycdn" edge --origin "$app" --listen 127.0.0.1:0 --memory 512MiB \
  --cache-dir "$w/edge-cache" --cache-size 2GiB
tiny=$url
. "$here/bench/nginx.sh"
nginx_cache_conf "$w/nginx" 28091 "${app#http://}" >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
ngx="http://127.0.0.1:28091"
for t in twitter cloudphysics; do
  # The trace's objects at their sizes, behind a 20 ms application.
  head -n "$n" "$traces/$t.log" | awk '{ id=$7; sub("/obj/","",id); $7="/slow/20/" $10 "/" id; print }' >"$w/$t.log"
  "$R/tinycdn" --json replay "$w/$t.log" --target "$app" --target "$tiny" --target "$ngx" \
    --rate "$rate" --concurrency 32 --limit "$n" >"$w/$t.cold.json"
  "$R/tinycdn" --json replay "$w/$t.log" --target "$ngx" --target "$tiny" --target "$app" \
    --rate "$rate" --concurrency 32 --limit "$n" >"$w/$t.warm.json"
done
python3 - "$w" "$app" "$tiny" "$ngx" "$n" "$rate" >"$here/target/bench/replay.md" <<'PY'
import json, sys
w, app, tiny, ngx, n, rate = sys.argv[1:]
name = {app: "origin (20 ms app)", tiny: "tinycdn edge", ngx: "nginx proxy_cache"}
print(f"`bench/replay.sh {n} {rate}`: first {n} GETs of each trace, {rate} req/s, 32 in flight at most.")
print("Hit ratio: hits / requests with a verdict; tinycdn reports requests that waited for another's fill as")
print("`collapsed` (RFC 9211), nginx reports them as `HIT` (after waiting on proxy_cache_lock).\n")
for t in ["twitter", "cloudphysics"]:
    for p in ["cold", "warm"]:
        d = json.load(open(f"{w}/{t}.{p}.json"))
        by = {x["target"]: x for x in d["targets"]}
        o = by[app]
        print(f"**{t}, {p} pass**\n")
        print("| target | requests | errors | hit ratio | collapsed | TTFB p50 / p90 / p99 ms | total p50 / p90 / p99 ms | TTFB p50 vs origin | MiB |")
        print("|---|---|---|---|---|---|---|---|---|")
        for u in [app, tiny, ngx]:
            x = by[u]
            h = "-" if x["hit_ratio"] is None else f"{x['hit_ratio']*100:.1f} %"
            tt, tot = x["ttfb_ms"], x["total_ms"]
            sp = o["ttfb_ms"]["p50"] / tt["p50"] if tt["p50"] > 0 else float("nan")
            c = x["collapsed"] if u == tiny else ("(in hits)" if u == ngx else "-")
            print(f"| {name[u]} | {x['requests']} | {x['errors']} | {h} | {c} | {tt['p50']:.2f} / {tt['p90']:.2f} / {tt['p99']:.2f} | {tot['p50']:.2f} / {tot['p90']:.2f} / {tot['p99']:.2f} | {sp:.1f}x | {x['bytes']/2**20:.1f} |")
        print()
PY
cat "$here/target/bench/replay.md"
