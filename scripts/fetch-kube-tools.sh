#!/usr/bin/env bash
# Installs, once, what the Kubernetes manifests are checked with offline: kubectl (its built-in
# kustomize renders the overlays) and PyPI's kubernetes-validate (the Kubernetes API schemas,
# bundled), each only when missing. Prints a directory holding a link to each.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/target/kube-tools"
. "$here/scripts/fetch-once.sh"
fetch_once "$out"
mkdir -p "$out"
if ! command -v kubectl >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq kubectl; } >&2
fi
if ! command -v kubernetes-validate >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check 'kubernetes-validate==1.37.0' >&2 \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages 'kubernetes-validate==1.37.0' >&2
fi
link_tools "$out" kubectl kubernetes-validate
touch "$out.complete"
echo "$out"
