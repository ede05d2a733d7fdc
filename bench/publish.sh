#!/usr/bin/env bash
# Publish and checkout benchmark: tinycdn vs casync (make) and OSTree (commit, checkout) on the same
# ≥1 GiB media tree (bench/make-tree.sh), page-cached, in one run, rounds interleaved so that the
# machine's noise falls on every tool alike. Reports the median of ROUNDS runs: wall time, MiB/s,
# peak RSS, and the time until the data is durable (the tool, then `sync`).
#
# Usage: bench/publish.sh [ROUNDS]   (default 3). Writes target/bench/publish.md and prints it.
# Peers installed from Debian: casync, ostree.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"
need() { command -v "$1" >/dev/null || apt-get install -y -qq "$2" >&2; }
need casync casync; need ostree ostree; [ -x /usr/bin/time ] || apt-get install -y -qq time >&2
cargo build --release --quiet -p tinycdn -p tinycdn-bench --manifest-path "$here/Cargo.toml"
bin="$here/target/release"
tree="$("$here/bench/make-tree.sh")"
work="$here/target/bench/work"
rm -rf "$work" && mkdir -p "$work"
bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
find "$tree" -type f -exec cat {} + >/dev/null   # page-cache the tree
"$bin/tinycdn" key generate --out "$work/k.key" >/dev/null

results="$work/results.tsv"
: >"$results"
# measure NAME SETUP COMMAND...: runs SETUP, syncs, then times COMMAND and a following sync.
measure() {
  local name="$1" setup="$2"; shift 2
  bash -c "$setup" >/dev/null 2>&1
  sync
  local t0 t1 t2
  t0=$(date +%s.%N)
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
  t1=$(date +%s.%N)
  sync
  t2=$(date +%s.%N)
  read -r _ rss <"$work/time.txt"
  printf '%s\t%s\t%s\t%s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" "$rss" >>"$results"
}

S="$work/store" C="$work/cas" O="$work/repo"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  measure "tinycdn publish" "rm -rf $S && $bin/tinycdn init --store $S" \
    "$bin/tinycdn" publish "$tree" --store "$S" --volume bench --tag t --key "$work/k.key"
  measure "tinycdn re-publish, tree unchanged" "true" \
    "$bin/tinycdn" publish "$tree" --store "$S" --volume bench --key "$work/k.key"
  measure "casync make" "rm -rf $C && mkdir -p $C" \
    casync make --store="$C/store.castr" "$C/tree.caidx" "$tree"
  measure "ostree commit" "rm -rf $O && ostree --repo=$O init --mode=bare" \
    ostree --repo="$O" commit -b main --tree=dir="$tree"
  measure "FastCDC+BLAKE3 alone (2 threads)" "true" \
    "$bin/cdc-baseline" "$tree" 65536 262144 1048576
  measure "tinycdn checkout" "rm -rf $work/co $work/.co.tinycdn" \
    "$bin/tinycdn" checkout bench@t "$work/co" --store "$S"
  measure "ostree checkout -H" "rm -rf $work/oco" \
    ostree --repo="$O" checkout -H main "$work/oco"
  measure "tinycdn fsck" "true" "$bin/tinycdn" fsck --store "$S"
  measure "ostree fsck" "true" ostree --repo="$O" fsck
done

python3 - "$results" "$bytes" "$rounds" >"$here/target/bench/publish.md" <<'PY'
import sys, statistics, collections
path, nbytes, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = collections.OrderedDict()
for line in open(path):
    name, wall, durable, rss = line.rstrip('\n').split('\t')
    runs.setdefault(name, []).append((float(wall), float(durable), int(rss)))
med = {n: (statistics.median(w for w, _, _ in v), statistics.median(d for _, d, _ in v), max(r for _, _, r in v)) for n, v in runs.items()}
mib = nbytes / 1048576
print(f"Tree: {mib:.0f} MiB; median of {rounds} interleaved rounds.\n")
print("| operation | wall s | MiB/s | wall until durable s | peak RSS MiB |")
print("|---|---|---|---|---|")
for n, (w, d, r) in med.items():
    print(f"| {n} | {w:.2f} | {mib / w:.0f} | {d:.2f} | {r / 1024:.1f} |")
t = med["tinycdn publish"]
def ratio(a, b, i): return b[i] / a[i]
print()
print(f"- publish vs casync make: {ratio(t, med['casync make'], 0):.2f}x faster (until durable: {ratio(t, med['casync make'], 1):.2f}x)")
print(f"- publish vs ostree commit: {ratio(t, med['ostree commit'], 0):.2f}x faster (until durable: {ratio(t, med['ostree commit'], 1):.2f}x)")
base = med["FastCDC+BLAKE3 alone (2 threads)"][0]
print(f"- publish throughput vs FastCDC+BLAKE3 alone: {base / t[0] * 100:.0f}% (re-publishing an unchanged tree, which reads and hashes everything but writes nothing: {base / med['tinycdn re-publish, tree unchanged'][0] * 100:.0f}%)")
c, o = med["tinycdn checkout"], med["ostree checkout -H"]
print(f"- checkout vs ostree checkout: {o[0] / c[0]:.2f}x (tinycdn hashes every object it links; ostree checkout verifies nothing)")
print(f"- fsck vs ostree fsck: {med['ostree fsck'][0] / med['tinycdn fsck'][0]:.2f}x faster")
PY
cat "$here/target/bench/publish.md"
