#!/usr/bin/env python3
"""Start-up benchmark: `gitsync merge-file` as a whole process, beside `git merge-file`.

As a git merge driver gitsync runs once per conflicted file, so what counts is the whole
process: interpreter start, imports, argument parsing, the merge, the write. Three small
text files are merged by `gitsync merge-file BASE OURS THEIRS -o OUT` (the venv's console
script, as git would run it) and by `git merge-file -p` in the same run, and three small
.docx versions (python-docx, a few paragraphs, edits to different paragraphs) by gitsync.
The sides alternate run by run, so a noisy neighbour hits both. Nothing is asserted. Run:

    .venv/bin/python scripts/bench/bench_merge_file.py [--runs 30]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docx

GITSYNC = Path(sys.executable).parent / "gitsync"

# Python caches compiled modules (__pycache__) unless told not to; a user's gitsync has that
# cache, so the benchmark does too (this variable is set in some CI and sandbox shells).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

TEXT = {
    "base": "".join(f"line {i} of a small note\n" for i in range(40)),
    "ours": "".join(f"line {i} of a small note{' (mine)' if i == 3 else ''}\n"
                    for i in range(40)),
    "theirs": "".join(f"line {i} of a small note{' (theirs)' if i == 30 else ''}\n"
                      for i in range(40)),
}
PARAGRAPHS = [f"Paragraph {i}: the quarterly report says sales grew in March." for i in range(8)]


def docx_version(edit: int | None, text: str = "") -> bytes:
    d = docx.Document()
    d.add_heading("Quarterly report", level=1)
    for i, p in enumerate(PARAGRAPHS):
        d.add_paragraph(text if i == edit else p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_ms(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall and CPU (user + system) milliseconds of one run of CMD, and its exit status."""
    c, t = cpu_s(), time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    wall, cpu = (time.perf_counter() - t) * 1000, (cpu_s() - c) * 1000
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode()}")
    return wall, cpu, r.returncode


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1] if len(xs) > 1 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30, help="runs per case (default 30)")
    a = ap.parse_args()
    if not GITSYNC.exists():
        sys.exit(f"no gitsync script at {GITSYNC}: run this with the venv's python")
    work = Path(tempfile.mkdtemp(prefix="gitsync-bench-"))
    try:
        for side, text in TEXT.items():
            (work / f"{side}.txt").write_text(text)
        (work / "base.docx").write_bytes(docx_version(None))
        (work / "ours.docx").write_bytes(docx_version(1, "Paragraph 1: sales grew in April."))
        (work / "theirs.docx").write_bytes(docx_version(6, "Paragraph 6: a new closing line."))

        cases: dict[str, list[str]] = {
            "gitsync merge-file, 3 text files": [
                str(GITSYNC), "merge-file", "base.txt", "ours.txt", "theirs.txt",
                "-o", "out.txt"],
            "git merge-file -p, same files": [
                "git", "merge-file", "-p", "ours.txt", "base.txt", "theirs.txt"],
            "gitsync merge-file, 3 small .docx": [
                str(GITSYNC), "merge-file", "base.docx", "ours.docx", "theirs.docx",
                "-o", "out.docx"],
            "python -c pass (interpreter start-up)": [sys.executable, "-c", "pass"],
        }
        # One untimed round: writes the bytecode cache, warms the page cache.
        codes = {name: timed_ms(cmd, work)[2] for name, cmd in cases.items()}
        git_out = subprocess.run(cases["git merge-file -p, same files"], cwd=work,
                                 capture_output=True).stdout
        if codes != dict.fromkeys(cases, 0) or (work / "out.txt").read_bytes() != git_out:
            print(f"warning: unexpected results {codes}; the merges are not clean or differ")

        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for i in range(a.runs):
            for name in (names if i % 2 == 0 else names[::-1]):
                wall, used, _ = timed_ms(cases[name], work)
                times[name].append(wall)
                cpu[name].append(used)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    git_med = statistics.median(times["git merge-file -p, same files"])
    targets = {"gitsync merge-file, 3 text files": "<= 60 ms",
               "gitsync merge-file, 3 small .docx": "<= 120 ms"}
    header = ("case", "median", "p90", "best", "CPU median", "git merge-file", "ratio",
              "target")
    rows = [header]
    for name, xs in times.items():
        med = statistics.median(xs)
        is_gitsync = name in targets
        rows.append((name, f"{med:.1f} ms", f"{p90(xs):.1f} ms", f"{min(xs):.1f} ms",
                     f"{statistics.median(cpu[name]):.1f} ms",
                     f"{git_med:.1f} ms" if is_gitsync else "",
                     f"{med / git_med:.0f}x" if is_gitsync else "",
                     targets.get(name, "")))
    w = [max(len(r[i]) for r in rows) for i in range(len(header))]
    # On a shared machine the median moves with the neighbours' load: the best run and the
    # CPU time show what the process itself costs, and the interpreter row the floor.
    print(f"\n{a.runs} runs per case, alternating; whole-process wall time (median, p90, "
          f"best) and CPU time (user + system); load average {os.getloadavg()[0]:.1f}\n")
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
        if j == 0:
            print("  ".join("-" * w[i] for i in range(len(header))))


if __name__ == "__main__":
    main()
