#!/usr/bin/env bash
# Audit against its peer, libCacheSim (PyPI `libcachesim`), on real traces with object sizes
# (libCacheSim's own: a Twitter cache cluster, 1 M requests; CloudPhysics block I/O, 114 k),
# each converted once to an nginx log for `tinycdn audit` and to libCacheSim's oracleGeneral
# binary for libCacheSim (bench/traces.py). Same cache sizes (0.1 % to 30 % of each working
# set), same policies, in one run: the miss ratios side by side, the wall time of both (audit:
# parsing the log and simulating; libCacheSim: simulating its binary trace, with its default
# hash table and with one sized to the trace), SHARDS at 10 % and 1 % against exact, and the
# parsing throughput and peak RSS on the 10 M-request Twitter trace; and the edge's own two tiers
# (its real code) with its disk tier under FIFO (before), SIEVE and S3-FIFO (after).
# Writes target/bench/audit.md and prints it.
# Usage: bench/audit.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v zstd >/dev/null || apt-get install -y -qq zstd >&2
python3 -c "import libcachesim" 2>/dev/null || python3 -m pip install -q libcachesim==0.3.5 >&2
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
traces="$(python3 "$here/bench/traces.py" --ten-million)"
w="$here/target/bench/audit"; rm -rf "$w"; mkdir -p "$w"
policies=lru,fifo,sieve,s3-fifo,w-tinylfu,belady
timed() { /usr/bin/time -f '%e %M' -o "$w/time.txt" "$@"; }
for t in twitter cloudphysics; do
  timed "$T" --json audit "$traces/$t.log" --policies "$policies" --top 3 >"$w/$t.json"
  cp "$w/time.txt" "$w/$t.time"
  sizes=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(','.join(str(p['cache_bytes']) for p in d['curves'] if p['policy']=='lru'))" "$w/$t.json")
  timed "$T" --json audit "$traces/$t.log" --policies "$policies" --top 3 --threads 1 >/dev/null
  cp "$w/time.txt" "$w/$t.time1"
  python3 "$here/bench/libcachesim_curves.py" "$traces/$t.oracleGeneral.bin" "$sizes" "$policies" >"$w/$t.lcs"
  python3 "$here/bench/libcachesim_curves.py" "$traces/$t.oracleGeneral.bin" "$sizes" "$policies" 20 >"$w/$t.lcs20"
  # The edge's own two tiers (memory 5 % of disk, as its defaults), its disk tier under each
  # policy it offers: FIFO was the tier before issue 13, S3-FIFO the one chosen.
  "$T" --json audit "$traces/$t.log" --policies edge-fifo,edge-sieve,edge,s3-fifo,belady --cache-sizes "$sizes" --top 1 >"$w/$t.edge.json"
  "$T" --json audit "$traces/$t.log" --policies edge-fifo,edge-sieve,edge --edge-memory 25% --cache-sizes "$sizes" --top 1 >"$w/$t.edge25.json"
  for rate in 0.1 0.01; do
    "$T" --json audit "$traces/$t.log" --policies lru,s3-fifo --cache-sizes "$sizes" --sample "$rate" --top 1 >"$w/$t.shards$rate.json"
  done
done
timed "$T" --json audit "$traces/twitter10m.log" --policies lru --cache-sizes 1% --top 3 >"$w/10m.json"
cp "$w/time.txt" "$w/10m.time"
python3 - "$w" >"$here/target/bench/audit.md" <<'PY'
import json, sys
w = sys.argv[1]
def lcs(path):
    recs = [json.loads(l) for l in open(path)]
    return {(r["policy"], r["cache_bytes"]): r for r in recs if "policy" in r}, recs[-1]["seconds"]
for t in ["twitter", "cloudphysics"]:
    ours = json.load(open(f"{w}/{t}.json"))
    peer, peer_s = lcs(f"{w}/{t}.lcs")
    _, peer20_s = lcs(f"{w}/{t}.lcs20")
    wall, rss = open(f"{w}/{t}.time").read().split()
    wall1, _ = open(f"{w}/{t}.time1").read().split()
    print(f"### {t}: {ours['requests']} requests, working set {ours['simulation']['working_set_bytes']} bytes\n")
    print("| policy | cache bytes | audit object / byte miss | libCacheSim object / byte miss | difference (points) |")
    print("|---|---|---|---|---|")
    worst = {}
    for p in ours["curves"]:
        r = peer[(p["policy"], p["cache_bytes"])]
        d = 100 * max(abs(p["object_miss_ratio"] - r["object_miss_ratio"]), abs(p["byte_miss_ratio"] - r["byte_miss_ratio"]))
        worst[p["policy"]] = max(worst.get(p["policy"], 0), d)
        print(f"| {p['policy']} | {p['cache_bytes']} | {p['object_miss_ratio']:.4f} / {p['byte_miss_ratio']:.4f} | {r['object_miss_ratio']:.4f} / {r['byte_miss_ratio']:.4f} | {d:.2f} |")
    print()
    print("- largest difference per policy (points): " + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()))
    print(f"- time, the 36 simulations: audit {float(wall):.2f} s wall for parsing the log and simulating (2 threads; {float(wall1):.2f} s on 1 thread), peak RSS {int(rss) // 1024} MiB; libCacheSim {peer_s:.2f} s with its default hash table (hashpower 24), {peer20_s:.2f} s with hashpower 20, simulating its binary trace (no parsing)")
    exact = {(p["policy"], p["cache_bytes"]): p for p in ours["curves"]}
    for rate in ["0.1", "0.01"]:
        s = json.load(open(f"{w}/{t}.shards{rate}.json"))
        errs = [100 * abs(p["object_miss_ratio"] - exact[(p["policy"], p["cache_bytes"])]["object_miss_ratio"]) for p in s["curves"]]
        print(f"- SHARDS-adj at {rate} ({s['simulation']['requests']} requests kept): object miss ratio vs exact, mean {sum(errs)/len(errs):.2f} points, max {max(errs):.2f} (lru, s3-fifo, 6 sizes)")
    print()
print("### The edge's disk tier: before (FIFO) and after (S3-FIFO)\n")
print("The edge's two tiers simulated with their own code (`quick_cache` built as the edge builds it, in front of `tinycdn-tier`'s disk policy), objects cut into 256 KiB chunks; cache size = the disk tier, memory 5 % of it (the defaults' ratio) or 25 %. Object miss ratio; s3-fifo and belady (one cache of the same size) for reference.\n")
for t in ["twitter", "cloudphysics"]:
    for f, mem in [("edge", "5 %"), ("edge25", "25 %")]:
        d = json.load(open(f"{w}/{t}.{f}.json"))
        pols = []
        for p in d["curves"]:
            if p["policy"] not in pols:
                pols.append(p["policy"])
        sizes = sorted({p["cache_bytes"] for p in d["curves"]})
        by = {(p["policy"], p["cache_bytes"]): p for p in d["curves"]}
        print(f"**{t}, memory {mem} of disk**\n")
        print("| policy | " + " | ".join(str(x) for x in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for pol in pols:
            name = {"edge": "edge (s3-fifo disk, after)", "edge-fifo": "edge-fifo (before)"}.get(pol, pol)
            print(f"| {name} | " + " | ".join(f"{by[(pol, x)]['object_miss_ratio']:.4f}" for x in sizes) + " |")
        gain = [100 * (by[("edge-fifo", x)]["object_miss_ratio"] - by[("edge", x)]["object_miss_ratio"]) for x in sizes]
        print(f"\n- after vs before: {min(gain):.1f} to {max(gain):.1f} points fewer object misses\n")
d = json.load(open(f"{w}/10m.json"))
wall, rss = open(f"{w}/10m.time").read().split()
print(f"### 10 M-request Twitter trace as an nginx log ({d['lines']} lines)\n")
print(f"- parse: {d['lines_per_second']:.0f} lines/s ({d['read_seconds']:.1f} s); whole audit (rank, one LRU simulation) {float(wall):.1f} s wall, peak RSS {int(rss) // 1024} MiB")
PY
cat "$here/target/bench/audit.md"
