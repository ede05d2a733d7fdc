#!/usr/bin/env bash
# The main job on the embedded default (a local store, no external service): build tinycdn, fetch
# real sample media, publish it as a signed volume under a trust root, check it out read-only,
# verify it, serve it from an origin through an edge cache on localhost, then show delta sync: a
# node pulls the volume through the edge, the publisher edits a clip and publishes again, and the
# node pulls only what changed; and front a stand-in application with an edge that caches it and
# serves the volume at the app's /media path. Everything lands under target/demo/. The servers
# run for DEMO_SECONDS (default 120; 0 means until Ctrl-C).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The image codecs build from source and need nasm for their SIMD (as .ci/run installs it).
command -v nasm >/dev/null || { apt-get update -qq && apt-get install -y -qq nasm; }
cargo build --release --quiet --locked --manifest-path "$here/Cargo.toml" -p tinycdn --bin tinycdn
tinycdn="$here/target/release/tinycdn"
media="$("$here/scripts/fetch-media.sh")"
demo="$here/target/demo"
mkdir -p "$demo"
cd "$demo"
[ -f store/tinycdn-store ] || "$tinycdn" init --store store
[ -f publisher.key ] || "$tinycdn" key generate --out publisher.key
# A trust root for the nodes (made again if missing, expired or from an older tinycdn).
"$tinycdn" trust show trust.json >/dev/null 2>&1 ||
  "$tinycdn" trust init --key publisher.key --out trust.json --force >/dev/null
rm -rf site && cp -r "$media" site && chmod -R u+w site
"$tinycdn" publish site --store store --volume site-media --tag stable --key publisher.key
"$tinycdn" checkout site-media@stable vols/site-media --store store --trust trust.json
"$tinycdn" fsck --store store --trust trust.json
# Every publish is an entry of the store's transparency log: verify it whole.
"$tinycdn" log verify --store store
"$tinycdn" stats --store store
echo
echo "volume checked out read-only at $demo/vols/site-media"

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
"$tinycdn" serve --store store --listen 127.0.0.1:0 >origin.url 2>origin.log & pids+=($!)
for _ in $(seq 50); do [ -s origin.url ] && break; sleep 0.1; done
origin="$(head -n1 origin.url)"
"$tinycdn" edge --upstream "$origin" --trust trust.json --cache-dir edge-cache \
  --cache-size 1GiB --memory 256MiB --listen 127.0.0.1:0 >edge.url 2>edge.log & pids+=($!)
for _ in $(seq 50); do [ -s edge.url ] && break; sleep 0.1; done
edge="$(head -n1 edge.url)"
# Check one clip through the edge byte for byte before advertising it.
curl -fsS "$edge/v/site-media@stable/video/bigbuckbunny.mp4" | cmp - "$media/video/bigbuckbunny.mp4"

# Delta sync: a node pulls the volume through the edge; the clip is then rewritten with scattered
# one-byte edits (as a re-encode does: no chunk survives) and published again; the node pulls
# again and moves only a delta.
# (The node's first pull makes its store.)
rm -rf node node-vol .node-vol.tinycdn
echo
"$tinycdn" pull site-media@stable --from "$edge" --trust trust.json --store node --checkout node-vol
python3 - site/video/bigbuckbunny.mp4 <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(0, len(b), 5000):
    b[i] = (b[i] + 1) % 256
open(p, "wb").write(b)
PY
v2=$("$tinycdn" --json publish site --store store --volume site-media --tag stable --key publisher.key |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["version"]); print(d["deltas"], file=sys.stderr)')
# The edge keeps serving the old tag for its max-age (60 s); the new version by id is there now.
"$tinycdn" pull "site-media@$v2" --from "$edge" --trust trust.json --store node --checkout node-vol
cmp node-vol/video/bigbuckbunny.mp4 site/video/bigbuckbunny.mp4
"$tinycdn" stats --store store | grep '^deltas' || true

# Front an application: a stand-in container app on localhost (pages with Cache-Control, a
# personal page marked private), an edge caching it as RFC 9111 allows a shared cache, with the
# signed volume mounted at the app's /media path.
rm -rf app-cache && mkdir -p app && echo '<h1>tinycdn demo app</h1><img src="/media/images/rocket.jpg">' >app/index.html
python3 - app >app.url 2>app.log <<'PY' & pids+=($!)
import functools, http.server, sys
class App(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        private = self.path.startswith("/me")
        self.send_header("Cache-Control", "private" if private else "public, max-age=60, stale-while-revalidate=30")
        super().end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(App, directory=sys.argv[1]))
print(f"http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
PY
for _ in $(seq 50); do [ -s app.url ] && break; sleep 0.1; done
app="$(head -n1 app.url)"
"$tinycdn" edge --origin "$app" --mount /media=site-media@stable --upstream "$origin" --trust trust.json \
  --cache-dir app-cache --listen 127.0.0.1:0 >front.url 2>front.log & pids+=($!)
for _ in $(seq 50); do [ -s front.url ] && break; sleep 0.1; done
front="$(head -n1 front.url)"
echo
for u in / / /media/images/rocket.jpg; do
  printf '%-28s %s\n' "GET $u" "$(curl -fsS -o /dev/null -D - "$front$u" | tr -d '\r' | grep -iE '^(cache-status|x-tinycdn-version):' | tr '\n' ' ')"
done
# Responsive images: a variant of a volume image, made once at the edge and then cached.
echo
for accept in 'image/avif,image/webp,*/*' '*/*' 'image/avif,image/webp,*/*'; do
  u="/media/images/astronaut.png?w=256&fmt=auto"
  printf '%-44s %s\n' "GET $u ($accept)" "$(curl -fsS -o /dev/null -D - -H "Accept: $accept" "$front$u" | tr -d '\r' | grep -iE '^(content-type|content-length):' | tr '\n' ' ')"
done
curl -fsS "$front/.tinycdn/metrics" | grep -E 'tinycdn_image_variants_total.*result="(made|hit)"'
echo
echo "origin: $origin    edge: $edge    app: $app    edge in front of the app: $front"
echo "open:"
echo "  $front/  (the app, cached; its images come from the signed volume at /media/)"
for f in images/astronaut.png images/rocket.jpg video/bigbuckbunny.mp4; do
  echo "  $edge/v/site-media@stable/$f"
done
echo "  $edge/v/site-media@stable/images/astronaut.png?w=256&fmt=auto  (a responsive variant)"
echo "  $edge/metrics    $front/.tinycdn/metrics"
echo "  $edge/status     (the cost model, live)"
secs="${DEMO_SECONDS:-120}"
if [ "$secs" = 0 ]; then
  echo "serving until Ctrl-C"
  wait
else
  echo "serving for $secs s (DEMO_SECONDS=0 serves until Ctrl-C)"
  sleep "$secs"
fi
