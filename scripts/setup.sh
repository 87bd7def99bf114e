#!/usr/bin/env bash
# Create .venv and install frs (editable), its test tools and the example KS2 plugin.
# pip's output goes to .venv/setup.log and is shown only if something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
log=.venv/setup.log
install() {
  if ! .venv/bin/python -m pip install "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "setup failed: pip install $*" >&2
    exit 1
  fi
}
: >"$log"
install --upgrade pip
install -e ".[test]"
install -e examples/frs-keystage-ks2
.venv/bin/frs --version
