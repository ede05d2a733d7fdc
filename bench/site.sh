#!/usr/bin/env bash
# First contentful paint and time to interactive of the example site (examples/site/, its gallery
# images from scikit-image), served by tinycdn's edge from a signed volume (`edge --site`, filling
# from a local `tinycdn serve`) and by nginx from the same files with the same headers (the
# `_headers` values, content-hashed assets immutable, the rest `max-age=0, must-revalidate`,
# try_files for clean URLs and the SPA fallback, gzip, /api proxied to the same backend through
# proxy_cache, nginx's production settings from bench/nginx.sh; no access log on either side).
# Both serve the same service worker (`tinycdn site sw`). Headless Chromium measures, interleaved
# (bench/site-browser.js): cold (fresh context) and warm (the worker controls the page), on
# loopback and under Lighthouse's desktop throttling (40 ms RTT, 10 Mbit/s).
# Writes target/bench/site.md and prints it. Usage: bench/site.sh [ROUNDS, default 15]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-15}"
command -v nginx >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq nginx-light >&2; }
cargo build --release --quiet -p tinycdn --manifest-path "$here/Cargo.toml"
tools="$(bash "$here/scripts/fetch-browser.sh")"
media="$(bash "$here/scripts/fetch-media.sh")/images"
T="$here/target/release/tinycdn"
w="$here/target/bench/site"
rm -rf "$w" && mkdir -p "$w/nginx/cache" "$w/nginx/tmp"
. "$here/bench/servers.sh"
cd "$w"
"$T" init --store store >/dev/null
"$T" key generate --out pub.key >/dev/null 2>&1
bash "$here/examples/site/build.sh" "$w/www" 1 "$media" >/dev/null
"$T" publish www --store store --volume www --tag stable --key pub.key --site --pwa >/dev/null 2>&1
"$T" site sw www@stable --store store --trust pub.key.pub -o "$w/www/sw.js" 2>/dev/null
api_port=28180
python3 "$here/examples/site/api.py" "$api_port" & pids+=("$!")
start origin "$T" serve --store store --listen 127.0.0.1:0
origin=$url
start edge "$T" edge --upstream "$origin" --trust pub.key.pub --listen 127.0.0.1:28181 \
  --site localhost=www@stable --site-api "/api=http://127.0.0.1:$api_port" --image-widths 320,640
. "$here/bench/nginx.sh"
{
  nginx_head "$w/nginx"
  cat <<NGX
  upstream api { server 127.0.0.1:$api_port; keepalive 16; }
  gzip on; gzip_types text/css text/javascript application/javascript application/json application/manifest+json;
  types { text/html html; text/css css; text/javascript js; application/manifest+json webmanifest; image/png png; }
  server {
    listen 127.0.0.1:28182;
    root $w/www;
    location ~ ^/_(headers|redirects)$ { return 404; }
    location /assets/ {
      add_header Cache-Control "public, max-age=31536000, immutable";
      add_header X-Content-Type-Options nosniff; add_header Referrer-Policy strict-origin-when-cross-origin;
    }
    location /api/ {
      proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache edge; proxy_cache_lock on; proxy_cache_revalidate on;
    }
    location / {
      add_header Cache-Control "public, max-age=0, must-revalidate";
      add_header X-Content-Type-Options nosniff; add_header Referrer-Policy strict-origin-when-cross-origin;
      try_files \$uri \$uri.html \$uri/ /index.html;
    }
  }
}
NGX
} >"$w/nginx/nginx.conf"
nginx -c "$w/nginx/nginx.conf"
# Same bytes on both: the shell, the script, the worker.
for p in / /assets/"$(ls "$w/www/assets" | grep '^app\.')" /sw.js; do
  a=$(curl -s "http://localhost:28181$p" | sha256sum) b=$(curl -s "http://localhost:28182$p" | sha256sum)
  [ "$a" = "$b" ] || { echo "tinycdn and nginx differ at $p" >&2; exit 1; }
done
PLAYWRIGHT_CORE="$tools/node_modules/playwright-core" node "$here/bench/site-browser.js" "$rounds" \
  tinycdn=http://localhost:28181/ nginx=http://localhost:28182/ >"$w/samples.jsonl"
python3 - "$w/samples.jsonl" "$rounds" >"$here/target/bench/site.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"`bench/site.sh {sys.argv[2]}`: {sys.argv[2]} rounds, interleaved; medians in ms (p90 in brackets).\n")
print("| network | state | server | TTFB | FCP | TTI (app-ready) | /api shown | bytes moved | worker |")
print("|---|---|---|---:|---:|---:|---:|---:|---|")
def q(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
ratios = []
for net in ["loopback", "desktop"]:
    for state in ["cold", "warm"]:
        med = {}
        for server in ["tinycdn", "nginx"]:
            r = [x for x in rows if (x["network"], x["state"], x["server"]) == (net, state, server)]
            m = {k: statistics.median(x[k] for x in r) for k in ["ttfb", "fcp", "tti", "api", "bytes"]}
            p90 = {k: q([x[k] for x in r], 0.9) for k in ["fcp", "tti"]}
            med[server] = m
            ctl = sum(x["controlled"] for x in r)
            # DevTools' emulated latency is not in Resource Timing's responseStart: no TTFB there.
            ttfb = f"{m['ttfb']:.1f}" if net == "loopback" else "—"
            print(f"| {net} | {state} | {server} | {ttfb} | {m['fcp']:.1f} ({p90['fcp']:.1f}) | "
                  f"{m['tti']:.1f} ({p90['tti']:.1f}) | {m['api']:.1f} | {m['bytes']:.0f} | {ctl}/{len(r)} |")
        ratios.append((net, state, med["tinycdn"]["fcp"] / med["nginx"]["fcp"], med["tinycdn"]["tti"] / med["nginx"]["tti"]))
print("\n| network | state | FCP tinycdn/nginx | TTI tinycdn/nginx |")
print("|---|---|---:|---:|")
for net, state, f, t in ratios:
    print(f"| {net} | {state} | {f:.2f} | {t:.2f} |")
PY
cat "$here/target/bench/site.md"
