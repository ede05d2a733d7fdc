#!/usr/bin/env bash
# Builds the example site into OUT as version LABEL: the assets get content-hashed names (so the
# edge serves them immutable), the pages point at them. With MEDIA (a directory of images, e.g.
# scripts/fetch-media.sh's images/), the gallery gets up to three of them.
#   examples/site/build.sh OUT LABEL [MEDIA]
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/src"
out="$1" label="$2" media="${3:-}"
rm -rf "$out"
mkdir -p "$out/assets" "$out/img"
cp -r "$src/." "$out/"
rm "$out/assets/app.js" "$out/assets/style.css"
images=()
if [ -n "$media" ]; then
  for name in chelsea.png coffee.png astronaut.png; do
    if [ -f "$media/$name" ]; then cp "$media/$name" "$out/img/"; images+=("\"$name\""); fi
  done
fi
list="[$(IFS=,; echo "${images[*]-}")]"
hashed() { # FILE EXT -> prints name.HASH.EXT of the file's content and moves it there
  local h; h="$(sha256sum "$1" | cut -c1-12)"
  mv "$1" "$out/assets/$3.$h.$2"; echo "$3.$h.$2"
}
sed -e "s/__VERSION__/$label/g" -e "s/__IMAGES__/$list/" "$src/assets/app.js" > "$out/assets/app.tmp"
app="$(hashed "$out/assets/app.tmp" js app)"
sed -e "s/__VERSION__/$label/g" "$src/assets/style.css" > "$out/assets/style.tmp"
style="$(hashed "$out/assets/style.tmp" css style)"
for page in "$out/index.html" "$out/about.html" "$out/docs/index.html"; do
  sed -i -e "s/__VERSION__/$label/g" -e "s/__APP__/$app/g" -e "s/__STYLE__/$style/g" "$page"
done
echo "$out"
