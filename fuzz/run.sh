#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with cargo fuzz (nightly), growing the
# committed corpora under fuzz/corpus/. Installs cargo-fuzz if missing.
# Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for t in manifest tag delta_index root root_json snapshot timestamp signature_set names chunking range route etag delta cache_control cache_key cache_record forwarding credentials image_probe image_params image_transform checkpoint tile_path bundle proof log_entry log_line disk_tier_state site_redirects site_headers site_host region csi_request; do
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 2>&1 | grep -E "^#|Done|ERROR|panicked" | tail -n 3
done
