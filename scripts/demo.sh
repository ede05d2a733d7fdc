#!/usr/bin/env bash
# The main job on the embedded default (a local store, no external service): build tinycdn, fetch
# real sample media, publish it as a signed volume, check it out read-only, verify it, then serve it
# from an origin through an edge cache on localhost and print URLs to open. Everything lands under
# target/demo/. The servers run for DEMO_SECONDS (default 120; 0 means until Ctrl-C).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo build --release --quiet --locked --manifest-path "$here/Cargo.toml" -p tinycdn
tinycdn="$here/target/release/tinycdn"
media="$("$here/scripts/fetch-media.sh")"
demo="$here/target/demo"
mkdir -p "$demo"
cd "$demo"
[ -f store/tinycdn-store ] || "$tinycdn" init --store store
[ -f publisher.key ] || "$tinycdn" key generate --out publisher.key
"$tinycdn" publish "$media" --store store --volume site-media --tag stable --key publisher.key
"$tinycdn" checkout site-media@stable vols/site-media --store store --trust publisher.key.pub
"$tinycdn" fsck --store store --trust publisher.key.pub
"$tinycdn" stats --store store
echo
echo "volume checked out read-only at $demo/vols/site-media"

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
"$tinycdn" serve --store store --listen 127.0.0.1:0 >origin.url 2>origin.log & pids+=($!)
for _ in $(seq 50); do [ -s origin.url ] && break; sleep 0.1; done
origin="$(head -n1 origin.url)"
"$tinycdn" edge --upstream "$origin" --trust publisher.key.pub --cache-dir edge-cache \
  --cache-size 1GiB --memory 256MiB --listen 127.0.0.1:0 >edge.url 2>edge.log & pids+=($!)
for _ in $(seq 50); do [ -s edge.url ] && break; sleep 0.1; done
edge="$(head -n1 edge.url)"
# Check one clip through the edge byte for byte before advertising it.
curl -fsS "$edge/v/site-media@stable/video/bigbuckbunny.mp4" | cmp - "$media/video/bigbuckbunny.mp4"
echo
echo "origin: $origin    edge: $edge"
echo "open:"
for f in images/astronaut.png images/rocket.jpg video/bigbuckbunny.mp4; do
  echo "  $edge/v/site-media@stable/$f"
done
echo "  $edge/metrics"
secs="${DEMO_SECONDS:-120}"
if [ "$secs" = 0 ]; then
  echo "serving until Ctrl-C"
  wait
else
  echo "serving for $secs s (DEMO_SECONDS=0 serves until Ctrl-C)"
  sleep "$secs"
fi
