#!/usr/bin/env bash
# Regenerate requirements.lock (`make lock`): install the dependencies that pyproject.toml lists
# ([project].dependencies plus the `dev` extra) into a throw-away venv and freeze what pip resolved.
# The project itself is not installed, so this works before gateway/ exists and the lock never pins
# customs-gateway. The lock is used as constraints (`pip install -c requirements.lock -e '.[dev]'`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}

"$PYTHON" - <<'PY' || exit 1
import sys
if sys.version_info < (3, 11):
    sys.exit(f"lock: {sys.executable} is Python {sys.version.split()[0]}; 3.11+ is needed (make lock PYTHON=python3.11)")
PY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gateway-lock.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" - >"$tmp/requirements.in" <<'PY'
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
print("\n".join(project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])))
PY

echo "lock: resolving $(wc -l <"$tmp/requirements.in") top-level requirements in a fresh venv..."
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
"$tmp/venv/bin/python" -m pip install --quiet -r "$tmp/requirements.in"

{
    echo "# requirements.lock: exact versions of every dependency of customs-gateway (runtime + the dev extra)."
    echo "# Used as constraints: pip install -c requirements.lock -e '.[dev]'   (what \`make venv\` does)."
    echo "# Generated from pyproject.toml by \`make lock\` (scripts/lock.sh) with Python $("$PYTHON" -c 'import platform; print(platform.python_version())'); do not edit by hand."
    echo "# Regenerate after changing dependencies in pyproject.toml, then commit both files."
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable --exclude customs-gateway
} >"$tmp/requirements.lock"

mv "$tmp/requirements.lock" requirements.lock
echo "lock: wrote requirements.lock ($(grep -vc '^#' requirements.lock) pinned packages)"
