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
