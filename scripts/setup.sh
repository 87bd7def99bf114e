#!/usr/bin/env bash
# Create .venv and install frs (editable), its test tools and the example KS2 plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
if [ -d examples/frs-keystage-ks2 ]; then
  .venv/bin/python -m pip install -q -e examples/frs-keystage-ks2 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/frs --version >/dev/null
