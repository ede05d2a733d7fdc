#!/usr/bin/env bash
# Cache hits while the edge transforms: wrk on a plain volume file of the edge, idle and while
# two clients keep its image workers busy (every request transforming a 17.9 MP photograph to
# AVIF), rounds alternating. The workers run at nice 10; the serving threads at 0.
# Uses the volume bench/images.sh publishes (run that first). Usage: bench/images-hits.sh [SECONDS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-5}"
w="$here/target/bench/images"
T="$here/target/release/tinycdn"
[ -d "$w/store" ] || { echo "run bench/images.sh first" >&2; exit 1; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$T" serve --store "$w/store" --listen 127.0.0.1:17370 >/dev/null 2>&1 & pids+=($!)
sleep 0.3
"$T" edge --upstream http://127.0.0.1:17370 --trust "$w/k.pub" --memory 1GiB --listen 127.0.0.1:18380 \
  --image-allow-any --image-no-store --image-workers 2 >/dev/null 2>&1 & pids+=($!)
sleep 0.5
base="http://127.0.0.1:18380/v/photos@stable"
curl -fsS -o /dev/null "$base/elephants-17.9mp.jpg"
curl -fsS -o /dev/null "$base/plain/leaf-512.webp"
row() { wrk -t2 -c32 -d"${secs}s" --latency "$base/plain/leaf-512.webp" |
  awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{printf "%s req/s, p99 %s", r, p}'; }
load() { while :; do curl -fsS -o /dev/null "$base/elephants-17.9mp.jpg?w=512&h=512&fmt=avif" || true; done; }
for round in 1 2 3; do
  echo "round $round idle:            $(row)"
  load & l1=$!; load & l2=$!
  sleep 1
  echo "round $round while transforming: $(row)"
  kill "$l1" "$l2" 2>/dev/null || true; wait "$l1" "$l2" 2>/dev/null || true
  sleep 1
done
