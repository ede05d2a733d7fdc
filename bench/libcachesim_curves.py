#!/usr/bin/env python3
"""The peer: libCacheSim (PyPI `libcachesim`) miss ratios on an oracleGeneral trace, one JSON
record per policy and size, and the wall time of all of them (one thread, as libCacheSim runs).
Usage: bench/libcachesim_curves.py TRACE.oracleGeneral.bin SIZE,SIZE,... POLICY,POLICY,... [HASHPOWER]"""
import json, sys, time
import libcachesim as lcs

trace, sizes, policies = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], sys.argv[3].split(",")
hashpower = int(sys.argv[4]) if len(sys.argv) > 4 else 24  # libCacheSim's default
make = {
    "lru": lcs.LRU, "fifo": lcs.FIFO, "sieve": lcs.Sieve, "s3-fifo": lcs.S3FIFO,
    "belady": lcs.Belady, "w-tinylfu": lcs.WTinyLFU,
}
reader = lcs.TraceReader(trace=trace, trace_type=lcs.TraceType.ORACLE_GENERAL_TRACE)
start = time.perf_counter()
for p in policies:
    for s in sizes:
        cache = make[p](cache_size=s, hashpower=hashpower)
        omr, bmr = cache.process_trace(reader)
        print(json.dumps({"policy": p, "cache_bytes": s, "object_miss_ratio": omr, "byte_miss_ratio": bmr}))
print(json.dumps({"seconds": time.perf_counter() - start}))
