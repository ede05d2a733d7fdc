#!/usr/bin/env bash
# Installs, once, the real servers the object-storage and region tests start on 127.0.0.1:
# s3s-fs (cargo install, pinned), moto's server (pip) and dnsmasq (Debian's dnsmasq-base), each
# only when it is not on PATH already. Prints a directory holding a link to each.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/target/test-servers"
. "$here/scripts/fetch-once.sh"
fetch_once "$out"
mkdir -p "$out"
if ! command -v s3s-fs >/dev/null; then
  echo "installing s3s-fs 0.14.1 (once, a few minutes)" >&2
  cargo install --locked --quiet --root "$out.cargo" s3s-fs@0.14.1 --features binary >&2
  export PATH="$out.cargo/bin:$PATH"
fi
if ! python3 -c 'import moto.server, flask_cors' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check 'moto[server]' >&2 \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages 'moto[server]' >&2
fi
if ! command -v dnsmasq >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq dnsmasq-base; } >&2
fi
link_tools "$out" s3s-fs moto_server dnsmasq
touch "$out.complete"
echo "$out"
