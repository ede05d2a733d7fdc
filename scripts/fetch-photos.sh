#!/usr/bin/env bash
# Fetches real photographs that Debian packages ship into target/photos/, once, for the image
# benchmark (bench/images.sh); nothing large is committed. Prints the directory on stdout.
#   elephants-17.9mp.jpg  5640x3172, Sony DSC-RX100M4, progressive  (mate-backgrounds)
#   elephants-8.3mp.jpg   3840x2160, the same photograph              (mate-backgrounds)
#   leaf-4.1mp.jpg        2560x1600, Canon EOS 70D                    (plasma-workspace-wallpapers)
#   cups-4.1mp.jpg        2560x1600, Sony NEX-3N                      (plasma-workspace-wallpapers)
#   flower-3.4mp.png      2268x1512 photograph                         (libjxl-testdata)
#   wood-16.8mp.webp      4096x4096 lossy WebP                         (gnome-backgrounds)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${TINYCDN_PHOTOS_DIR:-$here/target/photos}"
. "$here/scripts/fetch-once.sh"
fetch_once "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download mate-backgrounds plasma-workspace-wallpapers libjxl-testdata \
  gnome-backgrounds >&2)
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done
x="$work/x/usr/share"
mkdir -p "$out.partial"
cp "$x/backgrounds/mate/abstract/Elephants_5640x3172.jpg" "$out.partial/elephants-17.9mp.jpg"
cp "$x/backgrounds/mate/abstract/Elephants_3840x2160.jpg" "$out.partial/elephants-8.3mp.jpg"
cp "$x/wallpapers/FallenLeaf/contents/images/2560x1600.jpg" "$out.partial/leaf-4.1mp.jpg"
cp "$x/wallpapers/ColorfulCups/contents/images/2560x1600.jpg" "$out.partial/cups-4.1mp.jpg"
cp "$x/libjxl-testdata/jxl/flower/flower.png" "$out.partial/flower-3.4mp.png"
cp "$x/backgrounds/gnome/wood-d.webp" "$out.partial/wood-16.8mp.webp"
rm -rf "$out"
mv "$out.partial" "$out"
touch "$out.complete"
echo "$out"
