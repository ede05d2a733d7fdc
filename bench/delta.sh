#!/usr/bin/env bash
# Delta benchmark: `tinycdn delta create/apply` against `zstd -19 --patch-from`, `xdelta3 -9` and
# `bsdiff`/`bspatch` (Debian packages), same files, same run. Pairs: the shared library of two
# Debian builds of libvips42 (8.14.1-3+deb12u2 -> +deb12u3), and a real clip edit made with ffmpeg
# (bench/make-pairs.sh: trim-head). Reports delta size, creation and apply time (fastest of 5
# whole-process runs, so start-up and the durable write of the output are included) and peak RSS.
# Writes target/bench/delta.md and prints it. Usage: bench/delta.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for t in zstd xdelta3 bsdiff; do command -v "$t" >/dev/null || apt-get install -y -qq "$t" >&2; done
[ -x /usr/bin/time ] || apt-get install -y -qq time >&2
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
w="$here/target/bench/delta"
mkdir -p "$w/debs"
cd "$w/debs"
for v in 8.14.1-3+deb12u2 8.14.1-3+deb12u3; do
  [ -f "libvips42_${v}_amd64.deb" ] || apt-get download "libvips42=$v" >&2 2>/dev/null || apt-get download "libvips42=$v" >&2
done
for v in 8.14.1-3+deb12u2 8.14.1-3+deb12u3; do
  rm -rf "x-$v" && mkdir "x-$v" && dpkg-deb -x libvips42_${v}_amd64.deb "x-$v"
done
cd "$w"
lib=$(cd "debs/x-8.14.1-3+deb12u2" && find . -name 'libvips.so.42.*' -type f | head -1)
cp "debs/x-8.14.1-3+deb12u2/$lib" vips.old
cp "debs/x-8.14.1-3+deb12u3/$lib" vips.new
pairs="$("$here/bench/make-pairs.sh")"
cp "$pairs/trim-head.old" clip.old
cp "$pairs/trim-head.new" clip.new
cp "$pairs/faststart.old" fast.old
cp "$pairs/faststart.new" fast.new

res="$w/results.tsv"; : >"$res"
timed() { # name pair cmd... ; records the fastest wall seconds of 5 runs and peak RSS
  local name="$1" pair="$2"; shift 2
  /usr/bin/time -f '%e %M' -o "$w/t.txt" "$@" >/dev/null 2>&1
  read -r _ rss <"$w/t.txt"
  secs=$(python3 -c '
import subprocess, sys, time
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], check=True, capture_output=True)
    best = min(best, time.perf_counter() - t)
print(f"{best:.4f}")' "$@")
  printf '%s\t%s\t%s\t%s\n' "$pair" "$name" "$secs" "$rss" >>"$res"
}
for p in vips clip fast; do
  old="$p.old" new="$p.new"
  timed "tinycdn create" "$p" "$T" delta create "$old" "$new" -o "$p.tdelta"
  timed "tinycdn apply" "$p" "$T" delta apply "$old" "$p.tdelta" -o "$p.out"
  cmp "$p.out" "$new"
  timed "zstd create" "$p" zstd -19 -f -q --patch-from="$old" "$new" -o "$p.zst"
  timed "zstd apply" "$p" zstd -d -f -q --memory=2048MB --patch-from="$old" "$p.zst" -o "$p.zout"
  timed "xdelta3 create" "$p" xdelta3 -9 -f -e -s "$old" "$new" "$p.xd3"
  timed "xdelta3 apply" "$p" xdelta3 -f -d -s "$old" "$p.xd3" "$p.xout"
  timed "bsdiff create" "$p" bsdiff "$old" "$new" "$p.bsdiff"
  timed "bsdiff apply" "$p" bspatch "$old" "$p.bout" "$p.bsdiff"
  cmp "$p.zout" "$new"; cmp "$p.xout" "$new"; cmp "$p.bout" "$new"
  method=$("$T" --json delta create "$old" "$new" -o "$p.tdelta" | python3 -c 'import json,sys; print(json.load(sys.stdin)["method"])')
  printf '%s\tsizes\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$(stat -c%s "$new")" "$(stat -c%s "$p.tdelta")" "$(stat -c%s "$p.zst")" "$(stat -c%s "$p.xd3")" "$(stat -c%s "$p.bsdiff")" "$method" >>"$res"
done
python3 - "$res" >"$here/target/bench/delta.md" <<'PY'
import sys, collections
rows = collections.defaultdict(dict); sizes = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[1] == "sizes":
        sizes[f[0]] = f[2:]
    else:
        rows[f[0]][f[1]] = (float(f[2]), int(f[3]))
names = {"vips": "libvips.so.42 8.14.1-3+deb12u2 -> +deb12u3", "clip": "MP4 clip, head trimmed by stream copy",
         "fast": "MP4 clip re-muxed for fast start (index moved to the front)"}
print("| pair | target bytes | tinycdn (method) | zstd -19 --patch-from | xdelta3 -9 | bsdiff |")
print("|---|---|---|---|---|---|")
for p, s in sizes.items():
    print(f"| {names[p]} | {s[0]} | {s[1]} ({s[5]}) | {s[2]} | {s[3]} | {s[4]} |")
print()
print("| pair | tool | create s | create peak RSS MiB | apply s | apply MB/s | apply peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for p in sizes:
    target = int(sizes[p][0])
    for tool in ["tinycdn", "zstd", "xdelta3", "bsdiff"]:
        c, a = rows[p][f"{tool} create"], rows[p][f"{tool} apply"]
        mbs = target / 1e6 / a[0] if a[0] > 0 else float("inf")
        print(f"| {p} | {tool} | {c[0]:.3f} | {c[1] / 1024:.0f} | {a[0]:.3f} | {mbs:.0f} | {a[1] / 1024:.0f} |")
PY
cargo build --release --quiet -p tinycdn-bench --manifest-path "$here/Cargo.toml"
{ echo; echo "In-process apply (target/release/delta-apply: base and target hash checks included, no I/O):"; echo;
  "$here/target/release/delta-apply" vips.old vips.new clip.old clip.new fast.old fast.new; } >>"$here/target/bench/delta.md"
cat "$here/target/bench/delta.md"
