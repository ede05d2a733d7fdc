#!/usr/bin/env bash
# A region of 3 edges against 3 independent edges, on the same request stream from real traces
# (libCacheSim's Twitter and CloudPhysics traces, bench/traces.py): each trace's objects are
# published as a volume at their logged sizes (random bytes), served by a tinycdn origin; the
# requests go through nginx, round robin over the 3 edges (the same load balancer for both,
# keep-alive, no access log), paced by `tinycdn replay`. The region's edges listen on
# 127.0.0.2/.3/.4 and share chunks (--peer); the independent ones do not. Each setup has its own
# origin process, so origin requests and bytes are read from that origin's /metrics. Setups run
# one after the other per trace, in alternating order, every cache cold at the start.
# Writes target/bench/region.md and prints it.
# Usage: bench/region.sh [TWITTER_REQUESTS, default 20000] [CLOUDPHYSICS_REQUESTS, default 10000] [RATE, default 800]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n_tw="${1:-20000}"
n_cp="${2:-10000}"
rate="${3:-800}"
command -v nginx >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq nginx-light >&2; }
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
traces="$(python3 "$here/bench/traces.py")"
w="$here/target/bench/region"
rm -rf "$w" && mkdir -p "$w/nginx/tmp" "$w/nginx/cache"
. "$here/bench/servers.sh"

# The volumes: one file per object of the first N requests, at its logged size.
"$T" init --store "$w/store" >/dev/null
"$T" key generate --out "$w/pub.key" >/dev/null 2>&1
for t in twitter cloudphysics; do
  n=$n_tw; [ "$t" = cloudphysics ] && n=$n_cp
  head -n "$n" "$traces/$t.log" | awk '{ id=$7; sub("/obj/","",id); $7="/v/" T "@stable/obj/" id; print }' T="$t" >"$w/$t.log"
  python3 - "$w/$t.log" "$w/tree-$t" <<'PY'
import os, sys
log, out = sys.argv[1], sys.argv[2]
os.makedirs(f"{out}/obj", exist_ok=True)
seen = set()
for line in open(log):
    f = line.split()
    path, size = f[6], int(f[9])
    oid = path.rsplit("/", 1)[1]
    if oid in seen:
        continue
    seen.add(oid)
    with open(f"{out}/obj/{oid}", "wb") as o:
        o.write(os.urandom(size))
PY
  "$T" -q publish "$w/tree-$t" --store "$w/store" --volume "$t" --tag stable --key "$w/pub.key" >/dev/null
done

start origin-region "$T" serve --store "$w/store" --listen 127.0.0.1:0 --access-log "$w/origin-region.log"
origin_region=$url
start origin-independent "$T" serve --store "$w/store" --listen 127.0.0.1:0 --access-log "$w/origin-independent.log"
origin_independent=$url
pr=28111; pi=28112
peers=()
for ip in 2 3 4; do peers+=(--peer "http://127.0.0.$ip:$pr"); done
for ip in 2 3 4; do
  start "region-$ip" "$T" edge --upstream "$origin_region" --trust "$w/pub.key.pub" \
    --listen "127.0.0.$ip:$pr" --advertise "http://127.0.0.$ip:$pr" "${peers[@]}"
  start "independent-$ip" "$T" edge --upstream "$origin_independent" --trust "$w/pub.key.pub" \
    --listen "127.0.0.$ip:$pi"
done
. "$here/bench/nginx.sh"
{
  nginx_head "$w/nginx"
  for s in region:$pr:28101 independent:$pi:28102; do
    IFS=: read -r name port lb <<<"$s"
    cat <<NGX
  upstream $name { server 127.0.0.2:$port; server 127.0.0.3:$port; server 127.0.0.4:$port; keepalive 64; }
  server {
    listen 127.0.0.1:$lb;
    location / { proxy_pass http://$name; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
NGX
  done
  echo "}"
} >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
lb_region="http://127.0.0.1:28101"; lb_independent="http://127.0.0.1:28102"

# The origins' access logs (JSON lines, flushed within a second) tell chunk fills (route
# "object") from metadata; run() records where each run's lines start and end.
lines() { sleep 1.5; wc -l <"$1" | tr -d ' '; }
# edge_counts PORT: chunk lookups answered by a tier, and missed, over the three edges.
edge_counts() {
  for ip in 2 3 4; do curl -fsS "http://127.0.0.$ip:$1/metrics"; done | awk '
    /^tinycdn_cache_chunks_total/ && /result="hit"/ { h += $NF }
    /^tinycdn_cache_chunks_total/ && /result="miss"/ { m += $NF }
    /^tinycdn_region_fills_total/ && /source="peer"/ { p += $NF }
    END { printf "%d %d %d\n", h, m, p }'
}
run() { # run TRACE SETUP
  local t="$1" s="$2" lb port
  if [ "$s" = region ]; then lb=$lb_region; port=$pr; else lb=$lb_independent; port=$pi; fi
  local l0 e0; l0=$(lines "$w/origin-$s.log"); e0=$(edge_counts "$port")
  "$T" --json replay "$w/$t.log" --target "$lb" --rate "$rate" --concurrency 32 --limit 1000000 >"$w/$t.$s.json"
  echo "$t $s $l0 $(lines "$w/origin-$s.log") $e0 $(edge_counts "$port")" >>"$w/counts"
}
: >"$w/counts"
run twitter region; run twitter independent
run cloudphysics independent; run cloudphysics region
# Every node's counters at the end, kept for inspection.
curl -fsS "$origin_region/metrics" >"$w/metrics-origin-region.txt"
curl -fsS "$origin_independent/metrics" >"$w/metrics-origin-independent.txt"
for ip in 2 3 4; do
  curl -fsS "http://127.0.0.$ip:$pr/metrics" >"$w/metrics-region-$ip.txt"
  curl -fsS "http://127.0.0.$ip:$pi/metrics" >"$w/metrics-independent-$ip.txt"
done
python3 - "$w" "$n_tw" "$n_cp" "$rate" >"$here/target/bench/region.md" <<'PY'
import json, sys
w, n_tw, n_cp, rate = sys.argv[1:]
print(f"`bench/region.sh {n_tw} {n_cp} {rate}`: the first {n_tw} (Twitter) and {n_cp} (CloudPhysics) GETs, {rate} req/s,")
print("32 in flight at most, through nginx round robin over 3 edges; every cache cold at the start.\n")
print("| trace | setup | requests | errors | origin chunk requests | origin chunk MiB | origin metadata requests / MiB | requests without an origin chunk fill | chunk fills from a peer | TTFB p50 / p99 ms | total p50 / p99 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
rows = {}
for line in open(f"{w}/counts"):
    t, s, l0, l1, h0, m0, p0, h1, m1, p1 = line.split()
    d = json.load(open(f"{w}/{t}.{s}.json"))["targets"][0]
    log = open(f"{w}/origin-{s}.log").read().splitlines()[int(l0):int(l1)]
    entries = [json.loads(x) for x in log]
    chunks = [e for e in entries if e["route"] == "object"]
    meta = [e for e in entries if e["route"] not in ("object", "metrics")]
    req = len(chunks)
    mib = sum(e["bytes"] for e in chunks) / 2**20
    meta_mib = sum(e["bytes"] for e in meta) / 2**20
    rows[(t, s)] = (req, mib)
    tt, tot = d["ttfb_ms"], d["total_ms"]
    print(f"| {t} | {s} | {d['requests']} | {d['errors']} | {req} | {mib:.2f} | {len(meta)} / {meta_mib:.2f} | {(1 - req / d['requests']) * 100:.1f} % | {int(p1) - int(p0)} | {tt['p50']:.2f} / {tt['p99']:.2f} | {tot['p50']:.2f} / {tot['p99']:.2f} |")
print()
for t in ["twitter", "cloudphysics"]:
    (rr, rm), (ir, im) = rows[(t, "region")], rows[(t, "independent")]
    print(f"- {t}: the independent edges asked the origin for {ir / rr:.2f}x the chunks ({im / rm:.2f}x the chunk bytes) of the region.")
PY
cat "$here/target/bench/region.md"
