#!/usr/bin/env bash
# Run the whole test suite: creates/updates .venv with the test dependencies, then lints
# (ruff, import-linter layer contracts, mypy on gitsync/) and runs pytest. Extra arguments
# go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.gitsync-test-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
.venv/bin/ruff check gitsync tests scripts
.venv/bin/lint-imports
.venv/bin/mypy gitsync
exec .venv/bin/python -m pytest "$@"
