"""Run the reliability suites and print one table: ``scripts/reliability.sh [--quick]``.

Each suite module has ``run(root, quick=..., seed=..., say=...) -> list[Row]``. The exit
status is 1 if any suite broke an invariant (a lost version, an fsck error, devices that did
not converge, a conflict marker, a write outside the folders, a crash or a hang), else 0.
``--json FILE`` also writes the rows, for the README's table and the closing note.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from tests.reliability.harness import Row, percentile

SUITES = ("crash", "network", "soak", "hostile", "scale")
# --parallel: four lanes at once, so the full run takes about as long as its longest suite
LANES = (("soak",), ("scale",), ("crash",), ("network", "hostile"))


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def fmt_seconds(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} s"


def table(rows: list[Row]) -> str:
    head = ("suite", "faults injected", "versions written (owed)", "versions lost",
            "fsck errors", "conflicts raised / resolved", "convergence p50 / p95",
            "peak RSS", "result")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        conv = (f"{fmt_seconds(percentile(r.convergence, 50))} / "
                f"{fmt_seconds(percentile(r.convergence, 95))}" if r.convergence else "-")
        rss = f"{r.peak_rss_kb / 1024:.0f} MB" if r.peak_rss_kb else "-"
        lines.append("| " + " | ".join((
            r.suite, f"{r.faults:,}", f"{r.written:,} ({r.checked:,})", str(r.lost),
            str(r.fsck_errors), f"{r.conflicts_raised} / {r.conflicts_resolved}", conv, rss,
            "ok" if not r.failures else f"FAILED ({len(r.failures)})")) + " |")
    notes = [f"- {r.suite}: {n}" for r in rows for n in r.notes]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/reliability.sh", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the CI-sized run (minutes)")
    ap.add_argument("--only", action="append", choices=SUITES, help="run only this suite")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--keep", action="store_true", help="keep the sandboxes for reading")
    ap.add_argument("--parallel", action="store_true",
                    help="run the suites in four lanes at once (soak; scale; crash; network then "
                         "hostile), each suite in its own process; the figures then include "
                         "the other lanes' load")
    ap.add_argument("--table", nargs="+", type=Path, metavar="JSON",
                    help="print the table of rows saved earlier with --json, and exit")
    a = ap.parse_args(argv)
    if a.table:
        rows = [row_from_json(d) for f in a.table for d in json.loads(f.read_text())]
        print(table(rows))
        return 1 if any(r.failures for r in rows) else 0
    base = Path(tempfile.mkdtemp(prefix="gitsync-reliability-"))
    say(f"sandboxes under {base}; {'quick' if a.quick else 'full'} run, seed {a.seed}")
    rows = run_lanes(a, base) if a.parallel else run_here(a, base)
    print(table(rows), flush=True)
    failed = [(r.suite, f) for r in rows for f in r.failures]
    for suite, f in failed:
        print(f"\nFAILED {suite}: {f}", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps([r.to_json() for r in rows], indent=1))
    if a.keep or failed:
        say(f"sandboxes kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


def row_from_json(d: dict[str, object]) -> Row:
    return Row(**d)  # type: ignore[arg-type]


def run_lanes(a: argparse.Namespace, base: Path) -> list[Row]:
    chosen = a.only or SUITES
    results: dict[str, list[Row]] = {}

    def lane(names: tuple[str, ...]) -> None:
        for name in names:
            if name not in chosen:
                continue
            out = base / f"{name}.json"
            cmd = [sys.executable, "-m", "tests.reliability.run", "--only", name,
                   "--seed", str(a.seed), "--json", str(out), "--keep"]
            subprocess.run(cmd + (["--quick"] if a.quick else []), stdout=subprocess.DEVNULL,
                           env={**os.environ, "TMPDIR": str(base)}, check=False)
            if out.exists():
                results[name] = [row_from_json(d) for d in json.loads(out.read_text())]
            else:
                row = Row(suite=name)
                row.fail("the suite's process ended without writing its figures")
                results[name] = [row]

    threads = [threading.Thread(target=lane, args=(names,)) for names in LANES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for name in SUITES if name in results for r in results[name]]


def run_here(a: argparse.Namespace, base: Path) -> list[Row]:
    rows: list[Row] = []
    for name in a.only or SUITES:
        module = importlib.import_module(f"tests.reliability.{name}")
        start = time.monotonic()
        say(f"{name}: starting")
        try:
            got = module.run(base / name, quick=a.quick, seed=a.seed, say=say)
        except Exception:  # a crash of the harness or of gitsync is a failure, not a skip
            row = Row(suite=name)
            row.fail("suite crashed:\n" + traceback.format_exc())
            got = [row]
        for row in got:
            row.seconds = time.monotonic() - start
            say(f"{row.suite}: {'ok' if not row.failures else 'FAILED'} "
                f"in {row.seconds:.0f} s")
        rows.extend(got)
    return rows


if __name__ == "__main__":
    sys.exit(main())
