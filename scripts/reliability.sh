#!/usr/bin/env bash
# Fault-injection suites (crash, network, soak, hostile input, scale) with one table of
# figures; exits non-zero if any version was lost, any repository failed fsck, or devices
# did not converge. --quick is the CI-sized run (a few minutes); without it, the full run
# (about an hour). Other options: --only SUITE, --seed N, --json FILE, --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  bash scripts/test.sh --version >/dev/null  # builds .venv with the test dependencies
fi
exec .venv/bin/python -m tests.reliability.run "$@"
