#!/usr/bin/env bash
# Observability overhead: cache-hit req/s of a tinycdn edge with its access log (JSON, to a file),
# traces (OTLP/HTTP to a local sink, 1 % sampled) and metrics on, against the same edge with the
# access log and traces off (metrics are always on: both sides count and time every request);
# side by side, nginx proxy_cache with its access log off and on (buffered, as nginx's
# documentation recommends for busy servers: buffer=64k flush=1s). Same origin, same 4 KiB file,
# wrk -t2 -c64, rounds interleaved, medians of per-round ratios. Then the transparency log at a
# million entries (bench bin log-scale). Writes target/bench/observability.md and prints it.
# The two costs are also measured apart (access log only, traces only).
# Usage: bench/observability.sh [SECONDS per run, default 10] [ROUNDS, default 3]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"
rounds="${2:-3}"
command -v nginx >/dev/null || apt-get install -y -qq nginx-light >&2
command -v wrk >/dev/null || apt-get install -y -qq wrk >&2
cargo build --release --quiet -p tinycdn -p tinycdn-bench --manifest-path "$here/Cargo.toml"
T="$here/target/release/tinycdn"
w="$here/target/bench/observability"
rm -rf "$w" && mkdir -p "$w/files" "$w/nginx/cache" "$w/nginx/tmp" "$w/logs"
head -c 4096 /dev/urandom >"$w/files/small.bin"
"$T" init --store "$w/store" >/dev/null
"$T" key generate --out "$w/k" >/dev/null
"$T" publish "$w/files" --store "$w/store" --volume bench --tag t --key "$w/k" >/dev/null
. "$here/bench/servers.sh"
# An OTLP/HTTP sink: accepts every export, as a collector would.
python3 - >/dev/null 2>&1 <<'PY' & pids+=($!)
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", 14318), H).serve_forever()
PY
"$T" serve --store "$w/store" --listen 127.0.0.1:17071 >/dev/null 2>&1 & pids+=($!)
sleep 0.5
common=(--upstream http://127.0.0.1:17071 --trust "$w/k.pub" --memory 256MiB)
"$T" edge "${common[@]}" --listen 127.0.0.1:18081 >/dev/null 2>&1 & pids+=($!)
"$T" edge "${common[@]}" --listen 127.0.0.1:18082 --pop bench \
  --access-log "$w/logs/edge.log" --otlp-endpoint http://127.0.0.1:14318 --trace-sample 0.01 \
  >/dev/null 2>&1 & pids+=($!)
# The two costs apart: the access log alone, traces alone.
"$T" edge "${common[@]}" --listen 127.0.0.1:18083 --access-log "$w/logs/edge-only.log" >/dev/null 2>&1 & pids+=($!)
"$T" edge "${common[@]}" --listen 127.0.0.1:18084 --otlp-endpoint http://127.0.0.1:14318 \
  --trace-sample 0.01 >/dev/null 2>&1 & pids+=($!)
. "$here/bench/nginx.sh"
{ nginx_head "$w/nginx"; cat <<NGX
  log_format json escape=json '{"time":"\$time_iso8601","client":"\$remote_addr","method":"\$request_method","host":"\$host","uri":"\$request_uri","status":\$status,"bytes":\$body_bytes_sent,"duration":\$request_time,"cache":"\$upstream_cache_status","upstream":"\$upstream_addr","user_agent":"\$http_user_agent"}';
  upstream origin { server 127.0.0.1:27071; keepalive 64; }
  server { listen 127.0.0.1:27071; root $w/files; etag on; }
  server {
    listen 127.0.0.1:28081;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache edge; proxy_cache_valid 200 1d; }
  }
  server {
    listen 127.0.0.1:28082;
    access_log $w/logs/nginx.log json buffer=64k flush=1s;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache edge; proxy_cache_valid 200 1d; }
  }
}
NGX
} >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
sleep 0.5
path=/v/bench@t/small.bin
for u in 18081 18082 18083 18084; do curl -fsS -o /dev/null "http://127.0.0.1:$u$path"; curl -fsS -o /dev/null "http://127.0.0.1:$u$path"; done
for u in 28081 28082; do curl -fsS -o /dev/null "http://127.0.0.1:$u/small.bin"; curl -fsS -o /dev/null "http://127.0.0.1:$u/small.bin"; done
out="$w/results.tsv"; : >"$out"
run() { wrk -t2 -c64 -d"${secs}s" --latency "$2" >"$w/wrk.txt" 2>&1; python3 "$here/bench/wrk_row.py" "$1" "$w/wrk.txt" >>"$out"; }
# Each round runs the six in turn, in reverse order every other round, so that neither side of a
# ratio always runs first (the machine's drift falls on both).
runs=("tinycdn off|http://127.0.0.1:18081$path" "tinycdn on|http://127.0.0.1:18082$path"
  "tinycdn access log only|http://127.0.0.1:18083$path" "tinycdn traces only|http://127.0.0.1:18084$path"
  "nginx off|http://127.0.0.1:28081/small.bin" "nginx on|http://127.0.0.1:28082/small.bin")
for round in $(seq "$rounds"); do
  order=(0 1 2 3 4 5); [ $((round % 2)) = 0 ] && order=(5 4 3 2 1 0)
  for i in "${order[@]}"; do run "${runs[$i]%%|*}" "${runs[$i]#*|}"; done
done
sleep 1.5
lines_tiny=$(wc -l <"$w/logs/edge.log"); lines_ngx=$(wc -l <"$w/logs/nginx.log")
metrics=$(curl -fsS http://127.0.0.1:18082/metrics)
dropped=$(printf '%s\n' "$metrics" | awk '/^tinycdn_access_log_lines_total.*result="dropped"/ {print $2}')
"$here/target/release/log-scale" 1000000 2000 >"$w/log-scale.txt"
python3 - "$out" "$lines_tiny" "$lines_ngx" "${dropped:-0}" "$w/log-scale.txt" >"$here/target/bench/observability.md" <<'PY'
import sys, collections, statistics
path, lt, ln, dropped, scale = sys.argv[1:]
rows = collections.OrderedDict()
for line in open(path):
    name, rps, gbs, p50, p99, errs = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((float(rps), float(p50), float(p99), int(errs)))
print("| run (4 KiB cache hit, wrk -t2 -c64) | req/s | p50 ms | p99 ms | non-2xx |")
print("|---|---|---|---|---|")
for name, v in rows.items():
    print(f"| {name} | {statistics.median(x[0] for x in v):.0f} | {statistics.median(x[1] for x in v):.3f} | {statistics.median(x[2] for x in v):.3f} | {sum(x[3] for x in v)} |")
print()
def ratio(a, b):
    return statistics.median(x[0] / y[0] for x, y in zip(rows[a], rows[b]))
for stack in ["tinycdn", "nginx"]:
    r = ratio(f"{stack} on", f"{stack} off")
    print(f"- {stack}: on/off req/s {r:.3f} (overhead {100 * (1 - r):.1f} %; median of per-round ratios)")
for part in ["access log only", "traces only"]:
    r = ratio(f"tinycdn {part}", "tinycdn off")
    print(f"- tinycdn {part}: {r:.3f} of off (overhead {100 * (1 - r):.1f} %)")
print(f"- lines written: tinycdn {lt} (dropped {dropped}), nginx {ln}")
print()
print("Transparency log (`log-scale 1000000 2000`):")
print()
for line in open(scale):
    print(f"- {line.strip()}")
PY
cat "$here/target/bench/observability.md"
