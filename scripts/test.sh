#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it. Used as-is by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Chromium for the browser tests, WordNet's database for the synonym generator.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/share/wordnet/index.noun ] || need+=(wordnet-base)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (install them with apt-get as root)" >&2
    exit 1
  fi
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# The real photo sets live beside the checkout (../shared/datasets) unless told otherwise.
if [ -z "${SEMSCALE_DATA_DIR:-}" ] && [ -d ../shared/datasets ]; then
  export SEMSCALE_DATA_DIR="$(cd ../shared/datasets && pwd)"
fi
exec python -m pytest "$@"
