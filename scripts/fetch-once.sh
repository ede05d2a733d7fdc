# Sourced by the fetch scripts: `fetch_once OUT` prints OUT and exits the script when OUT was
# fetched before (OUT.complete exists); otherwise it returns holding OUT.lock, so that of tests
# running in parallel one fetches and the others wait for it.
fetch_once() {
  local out="$1"
  if [ -f "$out.complete" ]; then
    echo "$out"
    exit 0
  fi
  mkdir -p "$(dirname "$out")"
  exec 9>"$out.lock"
  flock 9
  if [ -f "$out.complete" ]; then
    echo "$out"
    exit 0
  fi
}

# `link_tools OUT TOOL...` links each TOOL found on PATH into OUT (the tools' folder the tests
# use), failing with its name when one is missing.
link_tools() {
  local out="$1" tool path; shift
  for tool in "$@"; do
    path="$(command -v "$tool")" || { echo "$tool is missing after installing it" >&2; exit 1; }
    ln -sf "$path" "$out/$tool"
  done
}
