#!/usr/bin/env python3
"""Real cache traces for the audit benchmark and tests, from libCacheSim's PyPI source package
(its data/ folder: a Twitter cache cluster and a CloudPhysics block I/O trace, with object sizes),
cached under target/traces/. Each is written twice, for the same requests:
  NAME.log                  nginx `combined` lines (what `tinycdn audit` reads)
  NAME.oracleGeneral.bin    libCacheSim's binary trace (what libCacheSim reads)
Usage: bench/traces.py [--ten-million]   (also the 10 M-request Twitter trace)"""
import json, os, struct, subprocess, sys, tarfile, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "target", "traces")
os.makedirs(out, exist_ok=True)
VERSION = "0.3.5"
DATA = f"libcachesim-{VERSION}/src/libCacheSim/data/"


def sdist():
    path = os.path.join(out, f"libcachesim-{VERSION}.tar.gz")
    if not os.path.exists(path):
        meta = json.load(urllib.request.urlopen("https://pypi.org/pypi/libcachesim/json", timeout=60))
        url = next(f["url"] for f in meta["releases"][VERSION] if f["filename"].endswith(".tar.gz"))
        urllib.request.urlretrieve(url, path + ".part")
        os.replace(path + ".part", path)
    return path


def extract(names):
    want = [n for n in names if not os.path.exists(os.path.join(out, n))]
    if not want:
        return
    with tarfile.open(sdist()) as t:
        for n in want:
            f = t.extractfile(DATA + n)
            with open(os.path.join(out, n) + ".part", "wb") as w:
                w.write(f.read())
            os.replace(os.path.join(out, n) + ".part", os.path.join(out, n))


def requests_of(name):
    """(object id, size) per request."""
    p = os.path.join(out, name)
    if name.endswith(".oracleGeneral.bin"):
        d = open(p, "rb").read()
        for i in range(len(d) // 24):
            _, obj, size, _ = struct.unpack_from("<IQIq", d, i * 24)
            yield obj, size
    elif name.endswith(".csv.zst"):
        z = subprocess.Popen(["zstd", "-dc", p], stdout=subprocess.PIPE, text=True)
        for line in z.stdout:
            yield from parse_csv(line)
    else:
        for line in open(p):
            yield from parse_csv(line)


def parse_csv(line):
    if line.startswith("#") or not line.strip():
        return
    parts = [x.strip() for x in line.split(",")]
    yield int(parts[1]), int(parts[2])


def write(trace, source):
    log = os.path.join(out, trace + ".log")
    binf = os.path.join(out, trace + ".oracleGeneral.bin")
    if os.path.exists(log) and os.path.exists(binf):
        return
    reqs = list(requests_of(source))
    nxt = [-1] * len(reqs)
    last = {}
    for i in range(len(reqs) - 1, -1, -1):
        o = reqs[i][0]
        nxt[i] = last.get(o, -1)
        last[o] = i
    t0 = 1_796_155_200  # 2026-12-01T20:00:00Z; one request per millisecond, 1000 a second
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    import datetime
    with open(log + ".part", "w") as f, open(binf + ".part", "wb") as b:
        for i, (o, s) in enumerate(reqs):
            ts = t0 + i // 1000
            d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
            stamp = f"{d.day:02d}/{months[d.month - 1]}/{d.year}:{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000"
            f.write(f'10.0.0.1 - - [{stamp}] "GET /obj/{o:x} HTTP/1.1" 200 {s} "-" "trace" 0.001 -\n')
            b.write(struct.pack("<IQIq", ts - t0, o, s, nxt[i]))
    os.replace(log + ".part", log)
    os.replace(binf + ".part", binf)


if __name__ == "__main__":
    extract(["twitter_cluster52.csv", "cloudPhysicsIO.oracleGeneral.bin"])
    write("twitter", "twitter_cluster52.csv")
    write("cloudphysics", "cloudPhysicsIO.oracleGeneral.bin")
    if "--ten-million" in sys.argv:
        extract(["twitter_cluster52_10m.csv.zst"])
        write("twitter10m", "twitter_cluster52_10m.csv.zst")
    print(out)
