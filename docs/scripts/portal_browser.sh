#!/usr/bin/env bash
# Browser tests of the web portal (docs/scripts/portal_browser.py) against a real node, in Debian's headless
# Chromium through chromedriver (`make test-deps` installs chromium and chromium-driver when missing).
#
#   docs/scripts/portal_browser.sh [path/to/leuknode] [--screenshots DIR]     (default .build/debug/leuknode)
#
# It installs selenium into the same virtualenv as schemathesis when it is missing ($LEUKNODE_VENV, default
# ~/.cache/leuknode-venv). Ends with 'N passed, N failed'; exits non-zero on any failure. About 40 s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/.build/debug/leuknode}")
shift || true
VENV=${LEUKNODE_VENV:-$HOME/.cache/leuknode-venv}
SELENIUM=4.27.1   # pinned, like schemathesis

[ -x "$BIN" ] || { echo "portal_browser.sh: no leuknode binary at $BIN (build first)" >&2; exit 1; }
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null || { echo "portal_browser.sh: $tool is missing (make test-deps installs chromium and chromium-driver)" >&2; exit 1; }
done
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM')" 2>/dev/null; then
  echo "installing selenium $SELENIUM into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "selenium==$SELENIUM"
fi
exec "$VENV/bin/python" "$ROOT/docs/scripts/portal_browser.py" --leuknode "$BIN" "$@"
