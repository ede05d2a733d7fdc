#!/usr/bin/env bash
# Installs what the browser tests drive, once: npm's playwright-core (pinned) into
# target/browser-tools/, and Debian's chromium when it is missing. Prints the tools directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/target/browser-tools"
. "$here/scripts/fetch-once.sh"
fetch_once "$out"
if ! command -v chromium >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq chromium; } >&2
fi
mkdir -p "$out"
npm install --silent --no-audit --no-fund --prefix "$out" playwright-core@1.57.0 >&2
touch "$out.complete"
echo "$out"
