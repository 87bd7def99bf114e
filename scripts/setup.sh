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
# axe-core for the browser test's accessibility checks (npm, into the git-ignored .venv/npm)
AXE_VERSION=4.14.1
if [ ! -f .venv/npm/node_modules/axe-core/axe.min.js ] || ! grep -q "\"version\": \"$AXE_VERSION\"" .venv/npm/node_modules/axe-core/package.json; then
  if command -v npm >/dev/null; then
    npm install --prefix .venv/npm --no-audit --no-fund --silent "axe-core@$AXE_VERSION" >>"$log" 2>&1 \
      || { cat "$log" >&2; echo "setup failed: npm install axe-core" >&2; exit 1; }
  else
    echo "note: npm not found, so axe-core (for tests/test_browser.py) was not installed" >&2
  fi
fi
.venv/bin/frs --version
