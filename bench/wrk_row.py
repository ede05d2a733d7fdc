#!/usr/bin/env python3
"""One wrk run's text as a TSV row: name, req/s, GiB/s, p50 ms, p99 ms, non-2xx/3xx responses.
Shared by the bench scripts. Usage: wrk_row.py NAME WRK_OUTPUT_FILE"""
import re
import sys

name, text = sys.argv[1], open(sys.argv[2]).read()


def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1000}[u]


rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
tr = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", text)
bps = float(tr.group(1)) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[tr.group(2)]
p = {k: unit(v, u) for k, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text)}
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
bad = (int(errs.group(1)) if errs else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
print(f"{name}\t{rps:.0f}\t{bps / (1 << 30):.3f}\t{p.get('50', 0):.3f}\t{p.get('99', 0):.3f}\t{bad}")
