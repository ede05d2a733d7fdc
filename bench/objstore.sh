#!/usr/bin/env bash
# Publish and pull throughput with the store on an S3-compatible server (s3s-fs on 127.0.0.1,
# objects on the same disk) against the local store, same tree, same run, interleaved, ROUNDS
# times (median reported). The raw upload and download speed of the server is measured with the
# AWS CLI (`aws s3 sync`, its default 10 concurrent requests and 8 MiB multipart chunks) on the
# same tree, as the ceiling. Pull: a fresh node pulls the version from `tinycdn serve` on each
# store. The tree is bench/make-tree.sh's (about 1.2 GiB of media).
# Writes target/bench/objstore.md and prints it. Usage: bench/objstore.sh [ROUNDS, default 3]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
servers="$(bash "$here/scripts/fetch-servers.sh")"
command -v aws >/dev/null || python3 -m pip install -q --disable-pip-version-check awscli >&2
tree="$(bash "$here/bench/make-tree.sh")"
w="$here/target/bench/objstore"
rm -rf "$w" && mkdir -p "$w/s3/bench"
. "$here/bench/servers.sh"
port=28121
"$servers/s3s-fs" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret "$w/s3" \
  >"$w/s3s.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 \
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
"$T" key generate --out "$w/pub.key" >/dev/null 2>&1
bytes=$(du -sb "$tree" | cut -f1)
now() { date +%s.%N; }
: >"$w/times"
for r in $(seq "$rounds"); do
  for kind in local s3 raw; do
    [ "$kind" = local ] && store="$w/local-$r"
    [ "$kind" = s3 ] && store="s3://bench/r$r"
    if [ "$kind" = raw ]; then
      sync; t0=$(now)
      aws s3 sync --quiet "$tree" "s3://bench/raw$r"
      t1=$(now)
      aws s3 sync --quiet "s3://bench/raw$r" "$w/raw-down-$r"
      t2=$(now)
      echo "raw $r $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)" >>"$w/times"
      rm -rf "$w/raw-down-$r"
      continue
    fi
    "$T" init --store "$store" >/dev/null
    sync; t0=$(now)
    "$T" -q publish "$tree" --store "$store" --volume media --tag stable --key "$w/pub.key" --no-deltas >/dev/null
    t1=$(now)
    start "serve-$kind-$r" "$T" serve --store "$store" --listen 127.0.0.1:0
    t2=$(now)
    "$T" -q pull media@stable --from "$url" --trust "$w/pub.key.pub" --store "$w/node-$kind-$r" >/dev/null
    t3=$(now)
    kill "$pid"
    echo "$kind $r $(echo "$t1 - $t0" | bc) $(echo "$t3 - $t2" | bc)" >>"$w/times"
    rm -rf "$w/node-$kind-$r" "$w/local-$r"
  done
done
python3 - "$w/times" "$bytes" "$rounds" >"$here/target/bench/objstore.md" <<'PY'
import statistics, sys
times, total, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
by = {}
for line in open(times):
    k, _, up, down = line.split()
    by.setdefault(k, []).append((float(up), float(down)))
mib = total / 2**20
print(f"`bench/objstore.sh {rounds}`: a {mib:.0f} MiB media tree (bench/make-tree.sh), median of {rounds} interleaved rounds.\n")
print("| store | publish s | publish MiB/s | pull s | pull MiB/s |")
print("|---|---|---|---|---|")
name = {"local": "local directory", "s3": "s3s-fs (S3 on 127.0.0.1)", "raw": "aws s3 sync to/from s3s-fs (ceiling)"}
med = {}
for k in ["local", "s3", "raw"]:
    up = statistics.median(u for u, _ in by[k]); down = statistics.median(d for _, d in by[k])
    med[k] = (up, down)
    print(f"| {name[k]} | {up:.2f} | {mib / up:.0f} | {down:.2f} | {mib / down:.0f} |")
print()
print(f"- publish to S3 takes {med['s3'][0] / med['local'][0]:.2f}x the local time, {med['s3'][0] / med['raw'][0]:.2f}x the AWS CLI's upload of the same tree;")
print(f"  pull from an origin on S3 takes {med['s3'][1] / med['local'][1]:.2f}x the time from a local one.")
PY
cat "$here/target/bench/objstore.md"
