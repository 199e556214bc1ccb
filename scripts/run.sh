#!/usr/bin/env bash
# Sync FOLDER (registering it first if new), or, with no FOLDER, run the demo sandbox.
# Creates .venv and installs gitsync into it on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
PY=${PYTHON:-python3}
if [ ! -x "$root/.venv/bin/gitsync" ] || [ "$root/pyproject.toml" -nt "$root/.venv/bin/gitsync" ]; then
  [ -x "$root/.venv/bin/python" ] || "$PY" -m venv "$root/.venv"
  "$root/.venv/bin/python" -m pip install -q -e "$root"
  touch "$root/.venv/bin/gitsync"
fi
gs="$root/.venv/bin/gitsync"
if [ $# -eq 0 ]; then
  exec "$gs" demo
fi
folder="$1"; shift
if ! "$gs" folders --json | "$root/.venv/bin/python" -c '
import json, os, sys
want = os.path.realpath(sys.argv[1])
sys.exit(0 if any(f["path"] == want for f in json.load(sys.stdin)["folders"]) else 1)
' "$folder"; then
  "$gs" init "$folder"
fi
if ! "$gs" autostart status 2>/dev/null | grep -qE "^enabled +yes"; then
  echo "To start gitsync on every login from now on: $gs autostart enable"
fi
echo "Web pages: $gs web (prints and opens the login link while this runs)"
exec "$gs" run "$@"
