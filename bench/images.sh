#!/usr/bin/env bash
# Image benchmark: thumbnails of real photographs (bench's scripts/fetch-photos.sh: 8.3 and 17.9
# MP camera JPEGs, 4.1 MP camera JPEGs, a 3.4 MP PNG photograph, a 16.8 MP WebP) fit inside
# 512x512 as JPEG q80, WebP q80 and AVIF (each tool's default quality), at concurrency 2:
#   tinycdn  the edge, variant cache off (--image-no-store: every request transforms), the
#            source a volume file in its chunk cache;
#   sharp    a minimal sharp server (npm sharp, as next/image uses it), source in memory;
#   thumbor  thumbor (PyPI) with 2 processes, file loader, no storage;
#   vips     vipsthumbnail (libvips-tools), one process per thumbnail.
# Per cell: thumbnails/s, p99, output KiB, SSIM against a Lanczos3 resize (Pillow) of the full
# image; peak RSS; then a cached variant vs a plain file hit on a second edge (wrk).
# Rounds interleaved. Writes target/bench/images.md and prints it.
# Usage: bench/images.sh [SECONDS per cell, default 3] [ROUNDS, default 2]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-3}"
rounds="${2:-2}"
command -v vipsthumbnail >/dev/null || apt-get install -y -qq libvips-tools >&2
command -v wrk >/dev/null || apt-get install -y -qq wrk >&2
python3 -c 'import skimage, PIL' 2>/dev/null || python3 -m pip install -q scikit-image pillow >&2
command -v thumbor >/dev/null || python3 -m pip install -q thumbor >&2 || true
tools="$here/target/bench-tools"
mkdir -p "$tools"
[ -d "$tools/node_modules/sharp" ] || (cd "$tools" && npm install -q sharp@0.34 >&2)
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
photos="$("$here/scripts/fetch-photos.sh")"
names="elephants-17.9mp.jpg,elephants-8.3mp.jpg,leaf-4.1mp.jpg,flower-3.4mp.png,wood-16.8mp.webp"
w="$here/target/bench/images"
rm -rf "$w" && mkdir -p "$w/vol/plain"
cp "$photos"/* "$w/vol/"
# A plain file the size of a cached variant: the same variant, made offline.
"$T" image "$photos/leaf-4.1mp.jpg" --w 512 --h 512 --fmt webp --q 80 -o "$w/vol/plain/leaf-512.webp" 2>/dev/null
"$T" init --store "$w/store" >/dev/null
"$T" key generate --out "$w/k" >/dev/null
"$T" publish "$w/vol" --store "$w/store" --volume photos --tag stable --key "$w/k" >/dev/null

. "$here/bench/servers.sh"
"$T" serve --store "$w/store" --listen 127.0.0.1:17170 >/dev/null 2>&1 & pids+=($!)
sleep 0.5
"$T" edge --upstream http://127.0.0.1:17170 --trust "$w/k.pub" --memory 1GiB --listen 127.0.0.1:18180 \
  --image-allow-any --image-no-store --image-workers 2 >/dev/null 2>&1 & pids+=($!); edge_pid=$!
"$T" edge --upstream http://127.0.0.1:17170 --trust "$w/k.pub" --memory 1GiB --listen 127.0.0.1:18181 \
  --image-allow-any >/dev/null 2>&1 & pids+=($!)
NODE_PATH="$tools/node_modules" node "$here/bench/sharp-server.js" "$photos" 18182 & pids+=($!); sharp_pid=$!
peer_thumbor=()
if command -v thumbor >/dev/null; then
  cat >"$w/thumbor.conf" <<CONF
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = '$photos'
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = 'thumbor.result_storages.no_storage'
ALLOW_UNSAFE_URL = True
QUALITY = 80
MAX_WIDTH = 0
MAX_HEIGHT = 0
CONF
  thumbor -p 18183 -c "$w/thumbor.conf" --processes 2 >"$w/thumbor.log" 2>&1 & pids+=($!); thumbor_pid=$!
  peer_thumbor=(--peer "thumbor=url=http://127.0.0.1:18183/unsafe/fit-in/512x512/filters:format({fmt}){q}/{name}"
                --q "thumbor=:quality(80)" --skip-fmt thumbor=avif)
fi
for port in 18180 18181 18182 18183; do
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
done
# Warm the edges' chunk caches with the sources, and the second edge with the cached variant.
for n in ${names//,/ }; do curl -fsS -o /dev/null "http://127.0.0.1:18180/v/photos@stable/$n"; done
cached="http://127.0.0.1:18181/v/photos@stable/leaf-4.1mp.jpg?w=512&h=512&fmt=webp&q=80"
plain="http://127.0.0.1:18181/v/photos@stable/plain/leaf-512.webp"
curl -fsS -o /dev/null "$cached"; curl -fsS -o /dev/null "$plain"
thumbor_pids="$(pgrep -f "thumbor -p 18183" | paste -sd, || true)"
python3 "$here/bench/images.py" --photos "$photos" --names "$names" --rounds "$rounds" --seconds "$secs" \
  --json "$w/images.json" \
  --peer "tinycdn=url=http://127.0.0.1:18180/v/photos@stable/{name}?w=512&h=512&fmt={fmt}{q}" --q "tinycdn=&q=80" \
  --peer "sharp=url=http://127.0.0.1:18182/{name}?w=512&h=512&fmt={fmt}{q}" --q "sharp=&q=80" \
  "${peer_thumbor[@]}" \
  --peer "vips=cmd=vipsthumbnail {src} -s 512x512 -o {out}" \
  --pids "tinycdn=$edge_pid" --pids "sharp=$sharp_pid" --pids "thumbor=${thumbor_pids:-0}" \
  --cached-url "$cached" --plain-url "$plain" | tee "$w/images.md"
mkdir -p "$here/target/bench"
cp "$w/images.md" "$here/target/bench/images.md"
