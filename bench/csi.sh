#!/usr/bin/env bash
# CSI node plugin benchmark: time from NodePublishVolume to a readable mount for a 1 GiB volume
# (128 incompressible 8 MiB "clips"), with `tinycdn csi publish` playing the kubelet against
# `tinycdn agent --csi-endpoint`, pulling from `tinycdn serve` on 127.0.0.1:
#   cold       a node with an empty store, version 1 pinned (pull + verified checkout + mount)
#   delta      the node holds version 1; version 2 (one clip replaced, 64 KiB of another
#              rewritten, a 1 MiB clip added) pinned: only what changed moves
#   warm       the node already shows version 2 for another pod: a new pod's publish
#   republish  a publish of a target already published that finds nothing changed: pinned;
#              a followed tag checked within `refresh`; a followed tag past `refresh` (a
#              metadata round trip to the mirror)
# against the floor, a plain bind mount made read-only, nosuid, nodev: the two mount(2) calls
# timed in one process (python ctypes), and `mount --bind` + `mount -o remount` as commands
# (wall time, like `tinycdn csi publish`'s, process start included).
# Runs itself in a private mount namespace (root). Writes target/bench/csi.md and prints it.
# Usage: bench/csi.sh [ROUNDS]   (ROUNDS of each warm measurement, default 30)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-30}"
[ "$(id -u)" = 0 ] || { echo "bench/csi.sh mounts: run it as root" >&2; exit 1; }
if [ -z "${TINYCDN_BENCH_NS:-}" ]; then
  exec unshare --mount --propagation private env TINYCDN_BENCH_NS=1 "$0" "$@"
fi
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
w="$here/target/bench/csi"
mkdir -p "$w"
if [ ! -f "$w/src/done" ]; then
  rm -rf "$w/src" && mkdir -p "$w/src/v1/clips"
  for i in $(seq -w 1 128); do head -c 8M /dev/urandom > "$w/src/v1/clips/c$i.mp4"; done
  cp -a "$w/src/v1" "$w/src/v2"
  head -c 8M /dev/urandom > "$w/src/v2/clips/c001.mp4"
  head -c 64K /dev/urandom | dd of="$w/src/v2/clips/c002.mp4" bs=64K seek=40 conv=notrunc status=none
  head -c 1M /dev/urandom > "$w/src/v2/clips/c129.mp4"
  touch "$w/src/done"
fi
r="$w/run"
rm -rf "$r" && mkdir -p "$r" && cd "$r"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$T" -q init --store origin >/dev/null
"$T" -q key generate --out pub.key >/dev/null
id1=$("$T" -q --json publish "$w/src/v1" --store origin --volume media --tag stable --key pub.key |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
id2=$("$T" -q --json publish "$w/src/v2" --store origin --volume media --tag stable --key pub.key |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
coproc ORIGIN { exec "$T" serve --store origin --listen 127.0.0.1:0 2>/dev/null; }
pids+=("$ORIGIN_PID")
read -r origin <&"${ORIGIN[0]}"
cat > agent.toml <<EOF
store = "node/store"
from = ["$origin"]
trust = ["pub.key.pub"]
interval = 3600
keep = 3
listen = "127.0.0.1:0"

[csi]
kubelet_dir = "kubelet"
publish_wait = 110
refresh = 1
EOF
coproc AGENT { exec "$T" agent --config agent.toml --csi-endpoint "unix://$r/csi.sock" 2>"$r/agent.err"; }
pids+=("$AGENT_PID")
read -r _ <&"${AGENT[0]}"

now() { date +%s%N; }
target() { echo "$r/kubelet/pods/$1/volumes/kubernetes.io~csi/media/mount"; }
# publish POD REF -> "rpc_ms wall_ms"; the wall time ends when a file of the mount is read.
publish() {
  local t0 out t1
  t0=$(now)
  out=$("$T" --json csi publish --endpoint "unix://$r/csi.sock" --volume-id "csi-$1" \
    --target "$(target "$1")" --attribute volume=media --attribute "ref=$2")
  head -c 1 "$(target "$1")/clips/c064.mp4" >/dev/null
  t1=$(now)
  echo "$(python3 -c 'import json,sys; print("%.2f" % json.loads(sys.argv[1])["elapsed_ms"])' "$out") $(( (t1 - t0) / 1000 ))"
}
unpublish() {
  "$T" -q csi unpublish --endpoint "unix://$r/csi.sock" --volume-id "csi-$1" --target "$(target "$1")" >/dev/null
}
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }

read -r cold_rpc cold_wall < <(publish cold "$id1")
bytes_cold=$(curl -s "${origin}/metrics" | awk '/^tinycdn_body_bytes_sent_total/ {s+=$2} END {print s+0}')
read -r delta_rpc delta_wall < <(publish delta "$id2")
bytes_delta=$(curl -s "${origin}/metrics" | awk '/^tinycdn_body_bytes_sent_total/ {s+=$2} END {print s+0}')
bytes_delta=$((bytes_delta - bytes_cold))

# Warm publishes and the floor, interleaved.
folder="$r/node/csi/volumes/media@$id2"
: > warm_rpc; : > warm_wall; : > floor_cmd
for i in $(seq 1 "$rounds"); do
  read -r a b < <(publish "w$i" "$id2")
  echo "$a" >> warm_rpc; echo "$((b / 1000)).$(( (b % 1000) / 10 ))" >> warm_wall
  unpublish "w$i"
  dst="$r/floor/$i" && mkdir -p "$dst"
  t0=$(now)
  mount --bind "$folder" "$dst" && mount -o remount,bind,ro,nosuid,nodev "$dst"
  head -c 1 "$dst/clips/c064.mp4" >/dev/null
  t1=$(now)
  echo "$(( (t1 - t0) / 1000000 )).$(( (t1 - t0) / 10000 % 100 ))" >> floor_cmd
  umount "$dst"
done
floor_syscalls=$(python3 - "$folder" "$r/floor/py" "$rounds" <<'EOF'
import ctypes, os, sys, time, statistics
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096
src, dst, n = sys.argv[1].encode(), sys.argv[2], int(sys.argv[3])
os.makedirs(dst, exist_ok=True)
times = []
for _ in range(n):
    t0 = time.perf_counter()
    assert libc.mount(src, dst.encode(), None, MS_BIND, None) == 0, os.strerror(ctypes.get_errno())
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    assert libc.mount(None, dst.encode(), None, flags, None) == 0, os.strerror(ctypes.get_errno())
    with open(os.path.join(dst, "clips/c064.mp4"), "rb") as f:
        f.read(1)
    times.append((time.perf_counter() - t0) * 1000)
    assert libc.umount2(dst.encode(), 0) == 0
print("%.3f" % statistics.median(times))
EOF
)

# Republish: pinned, a tag within refresh, a tag past refresh.
publish same "$id2" >/dev/null
publish tag stable >/dev/null
: > re_pinned; : > re_tag; : > re_tag_check
for i in $(seq 1 "$rounds"); do
  read -r a _ < <(publish same "$id2"); echo "$a" >> re_pinned
  read -r a _ < <(publish tag stable); echo "$a" >> re_tag
done
for i in $(seq 1 10); do
  sleep 1.05
  read -r a _ < <(publish tag stable); echo "$a" >> re_tag_check
done

warm_rpc_m=$(median < warm_rpc); warm_wall_m=$(median < warm_wall); floor_cmd_m=$(median < floor_cmd)
out="$w/../csi.md"
{
  echo "### CSI publish: time to a readable mount, 1 GiB volume ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "| case | NodePublishVolume (RPC) | wall, \`tinycdn csi publish\` + first byte | bytes from the mirror |"
  echo "|---|---|---|---|"
  echo "| cold node (pull + verified checkout + mount) | $cold_rpc ms | $((cold_wall / 1000)) ms | $bytes_cold |"
  echo "| node holds the previous version (delta) | $delta_rpc ms | $((delta_wall / 1000)) ms | $bytes_delta |"
  echo "| node already shows this version (median of $rounds) | $warm_rpc_m ms | $warm_wall_m ms | 0 |"
  echo "| republish, nothing changed, pinned (median of $rounds) | $(median < re_pinned) ms | | 0 |"
  echo "| republish, nothing changed, tag within refresh (median of $rounds) | $(median < re_tag) ms | | 0 |"
  echo "| republish, tag past refresh: metadata check (median of 10) | $(median < re_tag_check) ms | | metadata |"
  echo
  echo "| floor: plain bind mount, ro,nosuid,nodev (median of $rounds) | time |"
  echo "|---|---|"
  echo "| two mount(2) calls + first byte, in one process | $floor_syscalls ms |"
  echo "| \`mount --bind\` + \`mount -o remount,…\` + first byte, as commands | $floor_cmd_m ms |"
  echo
  echo "warm publish / floor (commands, wall): $(python3 -c "print('%.2f' % ($warm_wall_m / $floor_cmd_m))")×;" \
       "warm publish RPC / floor (syscalls): $(python3 -c "print('%.1f' % ($warm_rpc_m / $floor_syscalls))")×"
} > "$out"
cat "$out"
