#!/usr/bin/env bash
# The main job on the embedded default (a local store, no external service): build tinycdn, fetch
# real sample media, publish it as a signed volume, check it out read-only, verify and report.
# Everything lands under target/demo/. Safe to run again: it publishes a new version only if the
# media changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo build --release --quiet --locked --manifest-path "$here/Cargo.toml" -p tinycdn
tinycdn="$here/target/release/tinycdn"
media="$("$here/scripts/fetch-media.sh")"
demo="$here/target/demo"
mkdir -p "$demo"
cd "$demo"
[ -f store/tinycdn-store ] || "$tinycdn" init --store store
[ -f publisher.key ] || "$tinycdn" key generate --out publisher.key
"$tinycdn" publish "$media" --store store --volume site-media --tag stable --key publisher.key
"$tinycdn" checkout site-media@stable vols/site-media --store store --trust publisher.key.pub
"$tinycdn" fsck --store store --trust publisher.key.pub
"$tinycdn" stats --store store
echo
echo "volume checked out read-only at $demo/vols/site-media:"
ls -l "$demo/vols/site-media/" | sed 's/^/  /'
