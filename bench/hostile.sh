#!/usr/bin/env bash
# Hostile-traffic benchmark: legitimate load on 4 KiB cache hits (wrk -t2 -c64 from 127.0.0.1)
# against tinycdn edge --origin and nginx proxy_cache, each alone and then while bench/hostile.py
# attacks the same cache from five other loopback addresses, one per attack (10 000 idle sockets,
# 200 slowloris heads, 16 slow readers of 64 MiB objects, a Vary explosion, cookie probing with
# max-stale/only-if-cached on pages with no Cache-Control). The attacker runs on the same two
# cores as the cache and wrk, so part of any slowdown is the CPU it takes; each round runs the
# attack twice, attackers at the cache's priority and at nice 19 (as if their CPU were elsewhere,
# as on a real network). Rounds
# interleaved, medians reported: legitimate req/s and p99 under attack relative to the same load
# without attackers, the cache's peak RSS, and what the attackers got.
# Peers configured as their documentation recommends for production (bench/nginx.sh: worker
# processes auto, worker_connections 4096, keep-alive upstream, proxy_cache_lock, no access log on
# either side); tinycdn with its defaults (--header-timeout 10, --idle-timeout 60,
# --send-timeout 60, --max-connections-per-ip 1000) and --memory 256MiB.
# Writes target/bench/hostile.md and prints it. Usage: bench/hostile.sh [SECONDS per run, default 20] [ROUNDS, default 2]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-20}"
rounds="${2:-2}"
need() { command -v "$1" >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq "$2" >&2; }; }
need nginx nginx-light
need wrk wrk
ulimit -n "$(ulimit -Hn)" # 10 000 attacking sockets and their peers need the fds
cargo build --release --quiet -p tinycdn -p tinycdn-bench --manifest-path "$here/Cargo.toml"
R="$here/target/release"
w="$here/target/bench/hostile"
rm -rf "$w" && mkdir -p "$w/nginx/cache" "$w/nginx/tmp" "$w/edge-cache"

. "$here/bench/servers.sh"
start app "$R/bench-app" 127.0.0.1:0; app=$url
app_hostport=${app#http://}
start edge "$R/tinycdn" edge --origin "$app" --listen 127.0.0.1:0 --memory 256MiB \
  --cache-dir "$w/edge-cache" --cache-size 2GiB
tiny=$url; edge_pid=$pid
. "$here/bench/nginx.sh"
nginx_cache_conf "$w/nginx" 28091 "$app_hostport" >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
ngx="http://127.0.0.1:28091"
for _ in $(seq 100); do curl -s -o /dev/null "$ngx/b/1/x" && break; sleep 0.1; done
nginx_pids() { pgrep -f "nginx.*$w/nginx/nginx.conf" || true; }

declare -A peer=([tinycdn]="$tiny" [nginx]="$ngx")
order=(tinycdn nginx)
for p in "${order[@]}"; do
  curl -s -o /dev/null "${peer[$p]}/b/4096/hot"; curl -s -o /dev/null "${peer[$p]}/b/4096/hot"
done

# Peak RSS (KiB) of a peer's processes, sampled every 0.2 s while a run lasts.
rss_of() {
  local total=0
  for pid in "$@"; do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
sample_peak() { # name seconds pids...
  local name="$1" s="$2"; shift 2
  local peak=0 end=$((SECONDS + s))
  while [ "$SECONDS" -lt "$end" ]; do
    local now; now=$(rss_of "$@")
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  echo "$peak" >"$w/peak-$name"
}

out="$w/results.tsv"; : >"$out"
attacks="$w/attacks.jsonl"; : >"$attacks"
run() { # peer mode(alone|attacked)
  local p="$1" mode="$2" url="${peer[$1]}"
  local pids
  if [ "$p" = tinycdn ]; then pids="$edge_pid"; else pids="$(nginx_pids | tr '\n' ' ')"; fi
  local attackers=()
  if [ "$mode" != alone ]; then
    # attacked-nice: the attackers at nice 19, as if their CPU were elsewhere (on a real
    # network it is); attacked: at the cache's own priority on the same two cores.
    local niceness=0
    [ "$mode" = attacked-nice ] && niceness=19
    for a in idle slowloris slow vary probe; do
      nice -n "$niceness" python3 "$here/bench/hostile.py" "${url#http://}" "$((secs + 5))" "$a" \
        >"$w/attack-$p-$a.json" 2>"$w/attack-$p-$a.err" & attackers+=($!)
    done
    sleep 5 # the attack is in full swing before the measurement starts
  fi
  # shellcheck disable=SC2086
  sample_peak "$p-$mode" "$secs" $pids & local sampler=$!
  wrk -t2 -c64 -d"${secs}s" --latency "$url/b/4096/hot" >"$w/wrk.txt" 2>&1 || true
  wait "$sampler"
  if [ "${#attackers[@]}" -gt 0 ]; then
    wait "${attackers[@]}" || true
    python3 -c 'import json,sys; t={}
for f in sys.argv[2:]:
    for k,v in json.load(open(f)).items(): t[k]=round(t.get(k,0)+v,1)
t["peer"]=sys.argv[1]; print(json.dumps(t))' "$p $mode" "$w"/attack-"$p"-*.json >>"$attacks"
  fi
  python3 "$here/bench/wrk_row.py" "$p $mode" "$w/wrk.txt" | tr -d '\n' >>"$out"
  printf '\t%s\n' "$(cat "$w/peak-$p-$mode")" >>"$out"
}
for _ in $(seq "$rounds"); do
  for p in "${order[@]}"; do run "$p" alone; run "$p" attacked; run "$p" attacked-nice; done
done

python3 - "$out" "$attacks" "$secs" "$rounds" >"$w/../hostile.md" <<'PY'
import json, statistics, sys
rows, attacks, secs, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
by = {}
for line in open(rows):
    f = line.rstrip("\n").split("\t")
    by.setdefault(f[0], []).append((float(f[1]), float(f[4]), int(f[-1]), int(f[5])))
med = lambda xs: statistics.median(xs)
print(f"# Hostile traffic: legitimate 4 KiB hits under attack ({secs} s runs, {rounds} rounds, medians)\n")
print("Attackers at the cache's priority on the same cores (`attacked`), and at nice 19 (`attacked-nice`:")
print("as if their CPU were elsewhere, as on a real network).\n")
print("| cache | attackers | req/s alone | req/s attacked | ratio | p99 alone (ms) | p99 attacked (ms) | ratio | peak RSS attacked (MiB) | legitimate errors attacked |")
print("|---|---|---|---|---|---|---|---|---|---|")
for p in ["tinycdn", "nginx"]:
    for mode in ["attacked", "attacked-nice"]:
        a, h = by.get(f"{p} alone", []), by.get(f"{p} {mode}", [])
        if not a or not h:
            continue
        ra, rh = med([x[0] for x in a]), med([x[0] for x in h])
        pa, ph = med([x[1] for x in a]), med([x[1] for x in h])
        rss = max(x[2] for x in h) / 1024
        errs = sum(x[3] for x in h)
        print(f"| {p} | {mode} | {ra:,.0f} | {rh:,.0f} | {rh/ra:.2f}x | {pa:.2f} | {ph:.2f} | {ph/pa:.2f}x | {rss:.0f} | {errs} |")
print("\nWhat the attackers got (last round):\n")
last = {}
for line in open(attacks):
    d = json.loads(line)
    last[d.pop("peer")] = d
for p, d in last.items():
    print(f"- {p}: " + ", ".join(f"{k} {v}" for k, v in d.items()))
PY
cat "$w/../hostile.md"
