#!/usr/bin/env bash
# Peak RSS of an edge making two image variants at once (WebP and AVIF out, every request
# transforming) of the benchmark's largest photographs, one after the other: prints the edge's
# VmHWM after each. Uses the volume bench/images.sh publishes (run that first).
# Usage: bench/images-rss.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
w="$here/target/bench/images"
T="$here/target/release/tinycdn"
[ -d "$w/store" ] || { echo "run bench/images.sh first" >&2; exit 1; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$T" serve --store "$w/store" --listen 127.0.0.1:17270 >/dev/null 2>&1 & pids+=($!)
sleep 0.3
"$T" edge --upstream http://127.0.0.1:17270 --trust "$w/k.pub" --memory 1GiB --listen 127.0.0.1:18280 \
  --image-allow-any --image-no-store --image-workers 2 >/dev/null 2>&1 & pids+=($!); edge=$!
sleep 0.5
base="http://127.0.0.1:18280/v/photos@stable"
for n in elephants-17.9mp.jpg wood-16.8mp.webp; do curl -fsS -o /dev/null "$base/$n"; done
echo "idle, sources cached: $(grep VmHWM /proc/$edge/status)"
for n in elephants-17.9mp.jpg wood-16.8mp.webp; do
  for _ in 1 2 3; do
    curl -fsS -o /dev/null "$base/$n?w=512&h=512&fmt=webp" & a=$!
    curl -fsS -o /dev/null "$base/$n?w=512&h=512&fmt=avif" & b=$!
    wait "$a" "$b"
  done
  echo "two at a time of $n: $(grep VmHWM /proc/$edge/status)"
done
