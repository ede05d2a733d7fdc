#!/usr/bin/env bash
# An edge under image load, on the volume bench/images.sh publishes (run that first):
#  1. peak RSS: two variants at once (WebP and AVIF out, every request transforming) of the
#     largest photographs, one after the other; the edge's VmHWM after each;
#  2. cache hits while it transforms: wrk on an 18 KiB volume file, idle and while two clients
#     keep both image workers busy (AVIF of the 17.9 MP photograph), 3 rounds alternating.
# Usage: bench/images-edge.sh [SECONDS per wrk run, default 5]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-5}"
w="$here/target/bench/images"
T="$here/target/release/tinycdn"
[ -d "$w/store" ] || { echo "run bench/images.sh first" >&2; exit 1; }
. "$here/bench/servers.sh"
"$T" serve --store "$w/store" --listen 127.0.0.1:17270 >/dev/null 2>&1 & pids+=($!)
sleep 0.3
"$T" edge --upstream http://127.0.0.1:17270 --trust "$w/k.pub" --memory 1GiB --listen 127.0.0.1:18280 \
  --image-allow-any --image-no-store --image-workers 2 >/dev/null 2>&1 & pids+=($!); edge=$!
sleep 0.5
base="http://127.0.0.1:18280/v/photos@stable"
for n in elephants-17.9mp.jpg wood-16.8mp.webp plain/leaf-512.webp; do curl -fsS -o /dev/null "$base/$n"; done
echo "idle, sources cached: $(grep VmHWM /proc/$edge/status)"
for n in elephants-17.9mp.jpg wood-16.8mp.webp; do
  for _ in 1 2 3; do
    curl -fsS -o /dev/null "$base/$n?w=512&h=512&fmt=webp" & a=$!
    curl -fsS -o /dev/null "$base/$n?w=512&h=512&fmt=avif" & b=$!
    wait "$a" "$b"
  done
  echo "two at a time of $n: $(grep VmHWM /proc/$edge/status)"
done
row() { wrk -t2 -c32 -d"${secs}s" --latency "$base/plain/leaf-512.webp" |
  awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{printf "%s req/s, p99 %s", r, p}'; }
load() { while :; do curl -fsS -o /dev/null "$base/elephants-17.9mp.jpg?w=512&h=512&fmt=avif" 2>/dev/null || true; done; }
for round in 1 2 3; do
  echo "round $round idle:               $(row)"
  load & l1=$!; load & l2=$!
  sleep 1
  echo "round $round while transforming: $(row)"
  kill "$l1" "$l2" 2>/dev/null || true; wait "$l1" "$l2" 2>/dev/null || true
  sleep 1
done
