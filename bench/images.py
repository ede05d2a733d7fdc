#!/usr/bin/env python3
"""Drives the image benchmark (bench/images.sh starts the servers): thumbnails/s at concurrency
2, p99, output bytes and SSIM against a Lanczos reference, per peer, photo and format, in
interleaved rounds; peak RSS of each server; and a cached variant against a plain file hit.

Peers are URL templates ({name}, {fmt}, {q} filled in) or a command template for a program run
once per thumbnail ({src}, {out}). Writes a JSON report and prints Markdown tables."""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

import numpy as np
from PIL import Image, ImageOps
from skimage.metrics import structural_similarity

FORMATS = ["jpeg", "webp", "avif"]
BOX = 512


def fetch(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
        status = r.status
    return status, body, time.perf_counter() - t


def run_cmd(cmd):
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-400:])
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return dt, rss_kb


def cell(peer, name, fmt, seconds, workdir):
    """Runs one (peer, photo, format) cell with two workers; returns latencies, wall, sample."""
    lat, errors, sample, rss = [], [], [None], [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(i):
        n = 0
        while n < 3 or time.perf_counter() < deadline:
            n += 1
            try:
                if peer["kind"] == "url":
                    q = "" if fmt == "avif" else peer["q"]
                    url = peer["template"].format(name=name, fmt=fmt, q=q)
                    status, body, dt = fetch(url)
                    if status != 200:
                        raise RuntimeError(f"status {status}")
                    out = body
                else:
                    ext = {"jpeg": "jpg"}.get(fmt, fmt)
                    # Metadata stripped, as the web wants (and as the other peers do).
                    opt = "[strip]" if fmt == "avif" else "[Q=80,strip]"
                    dest = os.path.join(workdir, f"{peer['name']}-{i}.{ext}")
                    cmd = [a.format(src=os.path.join(args.photos, name), out=dest + opt)
                           for a in peer["template"]]
                    dt, kb = run_cmd(cmd)
                    with open(dest, "rb") as f:
                        out = f.read()
                    with lock:
                        rss[0] = max(rss[0], kb)
            except Exception as e:  # noqa: BLE001 - reported per cell
                with lock:
                    errors.append(str(e)[:200])
                return
            with lock:
                lat.append(dt)
                if sample[0] is None:
                    sample[0] = out

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, time.perf_counter() - t0, sample[0], errors, rss[0]


def decode_any(blob, workdir):
    """RGB array of an encoded image (AVIF through libvips)."""
    path = os.path.join(workdir, "decode.bin")
    with open(path, "wb") as f:
        f.write(blob)
    png = os.path.join(workdir, "decode.png")
    subprocess.run(["vips", "copy", path, png], check=True, capture_output=True)
    return np.asarray(Image.open(png).convert("RGB"))


REFS = {}


def ssim(name, blob, workdir):
    got = decode_any(blob, workdir)
    h, w = got.shape[:2]
    key = (name, w, h)
    if key not in REFS:
        src = ImageOps.exif_transpose(Image.open(os.path.join(args.photos, name))).convert("RGB")
        REFS[key] = np.asarray(src.resize((w, h), Image.Resampling.LANCZOS))
    return structural_similarity(REFS[key], got, channel_axis=2, data_range=255)


def peak_rss_kib(pids):
    best = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+)", f.read())
                best = max(best, int(m.group(1)))
        except OSError:
            pass
    return best


def wrk(url, seconds):
    p = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url],
                       capture_output=True, text=True, check=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", p.stdout).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", p.stdout)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def main():
    peers = []
    for spec in args.peer:
        name, kind, rest = spec.split("=", 2)
        if kind == "url":
            peers.append({"name": name, "kind": "url", "template": rest, "q": args.q_param.get(name, "")})
        else:
            peers.append({"name": name, "kind": "cmd", "template": rest.split(" ")})
    names = args.names.split(",")
    results = {}
    workdir = tempfile.mkdtemp()
    for rnd in range(args.rounds):
        for name in names:
            for fmt in FORMATS:
                # Interleaved: every peer once per (photo, format) in each round, order rotated.
                order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
                for p in order:
                    if fmt in args.skip.get(p["name"], []):
                        continue
                    lat, wall, sample, errors, rss = cell(p, name, fmt, args.seconds, workdir)
                    r = results.setdefault((p["name"], name, fmt),
                                           {"lat": [], "tps": [], "bytes": None, "ssim": None,
                                            "errors": [], "rss": 0})
                    r["lat"] += lat
                    r["tps"].append(len(lat) / wall if wall > 0 else 0)
                    r["errors"] += errors
                    r["rss"] = max(r["rss"], rss)
                    if sample is not None and r["bytes"] is None:
                        r["bytes"] = len(sample)
                        r["ssim"] = ssim(name, sample, workdir)
                    print(f"round {rnd + 1} {p['name']:>13} {name:>22} {fmt:>5}: "
                          f"{len(lat) / wall if wall else 0:6.2f}/s"
                          f"{'  ERR ' + errors[0] if errors else ''}", flush=True)
    rss = {}
    for spec in args.pids:
        name, pids = spec.split("=", 1)
        rss[name] = peak_rss_kib(pids.split(","))
    cached = None
    if args.cached_url and args.plain_url:
        rows = {"variant": [], "plain": []}
        for _ in range(3):
            for k, u in (("variant", args.cached_url), ("plain", args.plain_url)):
                rows[k].append(wrk(u, args.wrk_seconds))
        ratios = [v[0] / p[0] for v, p in zip(rows["variant"], rows["plain"])]
        cached = {k: {"rps": statistics.median(r[0] for r in v), "p99_ms": statistics.median(r[1] for r in v)}
                  for k, v in rows.items()}
        cached["ratio_median"] = statistics.median(ratios)
    report = {"cells": {f"{k[0]}|{k[1]}|{k[2]}": v for k, v in results.items()}, "rss_kib": rss,
              "cached": cached}
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    # Markdown, per format: one row per photo, peers side by side.
    pnames = [p["name"] for p in peers]
    for fmt in FORMATS:
        print(f"\n#### {fmt} (fit inside {BOX}x{BOX}{', q80' if fmt != 'avif' else ', each tool its default quality'})\n")
        head = "| photo | " + " | ".join(f"{p} thumbs/s | p99 ms | KiB | SSIM" for p in pnames)
        print(head + " | tinycdn / best peer |")
        print("|---" * (1 + 4 * len(pnames) + 1) + "|")
        for name in names:
            cells, tps = [], {}
            for p in pnames:
                r = results.get((p, name, fmt))
                if not r or not r["lat"]:
                    cells.append("n/a | | |")
                    continue
                t = statistics.median(r["tps"])
                tps[p] = r["tps"]
                p99 = np.percentile(r["lat"], 99) * 1000
                cells.append(f"{t:.2f} | {p99:.0f} | {r['bytes'] / 1024:.1f} | {r['ssim']:.4f}")
            ours = tps.get("tinycdn")
            peers_t = {p: statistics.median(v) for p, v in tps.items() if p != "tinycdn"}
            ratio = ""
            if ours and peers_t:
                best = max(peers_t, key=peers_t.get)
                per_round = [a / b for a, b in zip(ours, tps[best]) if b > 0]
                ratio = f"{statistics.median(per_round):.2f}x ({best})"
            print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    print("\nPeak RSS (VmHWM of the server over the whole run; per process for commands):")
    for p in pnames:
        kib = rss.get(p) or max((r["rss"] for k, r in results.items() if k[0] == p), default=0)
        print(f"- {p}: {kib / 1024:.0f} MiB")
    if cached:
        print(f"\nCached variant vs plain file (wrk -t2 -c32): variant {cached['variant']['rps']:.0f} req/s "
              f"p99 {cached['variant']['p99_ms']:.2f} ms; plain {cached['plain']['rps']:.0f} req/s "
              f"p99 {cached['plain']['p99_ms']:.2f} ms; ratio {cached['ratio_median']:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", required=True)
    ap.add_argument("--names", required=True)
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--pids", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", default="images.json")
    ap.add_argument("--cached-url")
    ap.add_argument("--plain-url")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--q", action="append", default=[], help="PEER=SUFFIX for jpeg/webp quality")
    ap.add_argument("--skip-fmt", action="append", default=[], help="PEER=FMT")
    args = ap.parse_args()
    args.q_param = dict(s.split("=", 1) for s in args.q)
    args.skip = {}
    for s in args.skip_fmt:
        k, v = s.split("=", 1)
        args.skip.setdefault(k, []).append(v)
    main()
