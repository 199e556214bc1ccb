#!/usr/bin/env python3
"""Reading a synced folder must cost the daemon nothing.

Builds a folder of N files (default 100,000 of about 1 KB in 1,000 directories) twice: one
copy synced by a running ``gitsync run`` (private GITSYNC_HOME, ``gitsync init`` first,
measured once the daemon is idle), one plain copy. Then ``grep -r`` runs three times on
each, alternating, and the table shows the daemon's CPU seconds while the synced copy was
read, grep's wall time on both copies (with and without ``.git``), the inotify overflows
the daemon logged during its first start, and the inotify watches it holds (from
``/proc/PID/fdinfo``), with how many of them are on ``.git`` directories. Nothing is
asserted. Run:

    .venv/bin/python scripts/bench/bench_read.py [--files N] [--quick] [--src CHECKOUT]

``--src`` runs the daemon from another checkout (e.g. a worktree of main) for a before and
after from the same machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_watch import ENV, make_tree  # the same ~1 KB files as the watch benchmark

NEEDLE = "somestring that no file holds"


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def wait_idle(proc: psutil.Process, deadline: float, quiet_s: int = 3) -> None:
    """Until the process used under 20 ms of CPU in each of QUIET_S seconds in a row."""
    quiet, prev = 0, cpu(proc)
    while quiet < quiet_s and time.time() < deadline:
        time.sleep(1)
        cur = cpu(proc)
        quiet = quiet + 1 if cur - prev < 0.02 else 0
        prev = cur


def inotify_watches(pid: int) -> list[int]:
    """The inode of every inotify watch the process holds, over all its descriptors."""
    inodes: list[int] = []
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        inodes += [int(m, 16) for m in re.findall(r"^inotify wd:\S+ ino:([0-9a-f]+)", text,
                                                 re.MULTILINE)]
    return inodes


def git_dir_inodes(folder: Path) -> set[int]:
    out: set[int] = set()
    for dirpath, _dirs, _files in os.walk(folder / ".git"):
        out.add(os.stat(dirpath).st_ino)
    return out


def grep(folder: Path, *extra: str) -> float:
    t = time.perf_counter()
    subprocess.run(["grep", "-r", *extra, NEEDLE, str(folder)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10,000 files")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[2],
                    help="the checkout whose gitsync runs (default: this one)")
    a = ap.parse_args()
    if a.quick:
        a.files = 10_000
    src = a.src.resolve()
    work = Path(tempfile.mkdtemp(prefix="gitsync-bench-read-"))
    home = work / "home"
    env = {**ENV, "GITSYNC_HOME": str(home), "PYTHONPATH": str(src)}
    # Run from WORK: the current directory comes first on sys.path, before PYTHONPATH.
    gitsync = [sys.executable, "-m", "gitsync.cli"]
    rows: list[tuple[str, str, str, str]] = []
    proc = None
    try:
        synced, plain = work / "synced", work / "plain"
        t = time.perf_counter()
        make_tree(synced, a.files)
        make_tree(plain, a.files)
        print(f"generated 2 x {a.files} files in {time.perf_counter() - t:.1f} s", flush=True)
        where = subprocess.run([*gitsync[:1], "-c", "import gitsync; print(gitsync.__file__)"],
                               env=env, cwd=work, capture_output=True, text=True).stdout.strip()
        print(f"gitsync from {where}", flush=True)
        t = time.perf_counter()
        subprocess.run([*gitsync, "init", str(synced)], env=env, cwd=work, check=True,
                       capture_output=True)
        print(f"gitsync init: {time.perf_counter() - t:.1f} s", flush=True)
        os.sync()

        log_path = work / "daemon.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([*gitsync, "run", "--no-web"], env=env, cwd=work, stdout=log,
                                    stderr=subprocess.STDOUT)
        p = psutil.Process(proc.pid)
        t0 = time.perf_counter()
        deadline = time.time() + 900
        while b"running" not in log_path.read_bytes() and time.time() < deadline:
            time.sleep(0.2)
        wait_idle(p, deadline)
        start_s, start_cpu = time.perf_counter() - t0, cpu(p)
        print(f"daemon idle after {start_s:.1f} s ({start_cpu:.1f} s CPU)", flush=True)
        overflows = sum(1 for line in log_path.read_text(errors="replace").splitlines()
                        if "overflow" in line.lower())
        watches = inotify_watches(proc.pid)
        on_git = len(set(watches) & git_dir_inodes(synced))

        # Warm the page cache of both copies first, so neither pays the disk.
        grep(synced)
        grep(plain)
        wait_idle(p, time.time() + 120)
        log_before = log_path.stat().st_size
        c0 = cpu(p)
        t_synced, t_plain, t_synced_ng, t_plain_ng = [], [], [], []
        for _ in range(a.passes):
            t_synced.append(grep(synced))
            t_plain.append(grep(plain))
        c_grep = cpu(p)
        wait_idle(p, time.time() + 120)  # work queued by the reads, if any, counts too
        c1 = cpu(p)
        for _ in range(a.passes):
            t_synced_ng.append(grep(synced, "--exclude-dir=.git"))
            t_plain_ng.append(grep(plain, "--exclude-dir=.git"))
        c2 = cpu(p)
        wait_idle(p, time.time() + 120)
        c3 = cpu(p)
        new_log = log_path.read_bytes()[log_before:].decode(errors="replace")
        commits_after = sum(1 for line in new_log.splitlines() if "committed" in line)

        ms, mp = statistics.median(t_synced), statistics.median(t_plain)
        ms_ng, mp_ng = statistics.median(t_synced_ng), statistics.median(t_plain_ng)
        rows += [
            (f"daemon CPU during {a.passes} x grep -r (and until idle)",
             f"{c1 - c0:.2f} s ({c_grep - c0:.2f} s while grep ran)", "",
             "target 0"),
            (f"daemon CPU during {a.passes} x grep -r --exclude-dir=.git",
             f"{c3 - c1:.2f} s ({c2 - c1:.2f} s while grep ran)", "", "target 0"),
            ("commits logged while reading", f"{commits_after}", "", "target 0"),
            ("grep -r, median wall", f"{ms:.2f} s", f"{mp:.2f} s",
             f"{ms / mp:.2f}x (synced copy also holds .git)"),
            ("grep -r --exclude-dir=.git, median wall", f"{ms_ng:.2f} s", f"{mp_ng:.2f} s",
             f"{ms_ng / mp_ng:.2f}x (target 1.0x)"),
            ("inotify overflows during the first start", f"{overflows}", "", "target 0"),
            ("inotify watches held by the daemon", f"{len(watches)}", "",
             f"{on_git} on .git directories (target 0); {a.files // 100 + 1} folders"),
            ("first start: run -> idle", f"{start_s:.1f} s", "", f"{start_cpu:.1f} s CPU"),
        ]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)

    header = ("measure", "gitsync (synced copy)", "plain copy", "ratio / note")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
