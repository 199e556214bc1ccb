#!/usr/bin/env python3
"""First-snapshot benchmark: `gitsync init` against `git init && git add -A && git commit`.

Builds the same folder twice (default 100,000 files of about 1 KB in 1,000 directories; see
bench_watch.make_tree), then times, each as a whole process from outside (interpreter start
included for gitsync, with a private GITSYNC_HOME):

* `gitsync init FOLDER` on one copy, and `git init && git add -A && git commit` on the other;
* the repository each leaves: loose objects, their size, pack size (`git count-objects -vH`,
  read after git's own background `gc --auto` has finished), and whether the index holds
  a valid cached tree for the whole folder;
* `git status` in each folder (median of 5 runs after one warm-up, alternating folders).

Prints a markdown table, gitsync beside git; asserts nothing. Run:

    .venv/bin/python scripts/bench/bench_snapshot.py [--files N] [--quick] [--src DIR]

``--src`` runs the gitsync found in DIR (e.g. a worktree of another branch) instead of this
checkout's, to compare before and after in one sitting.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_watch import ENV, make_tree

ROOT = Path(__file__).resolve().parents[2]


def wall(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def wait_for_gc(repo: Path, timeout: float = 900.0) -> None:
    """git detaches `gc --auto` after a commit: let it finish before reading the result."""
    deadline = time.time() + timeout
    time.sleep(1.0)
    while (repo / ".git" / "gc.pid").exists() and time.time() < deadline:
        time.sleep(0.5)


def count_objects(repo: Path) -> dict[str, str]:
    out = subprocess.run(["git", "count-objects", "-vH"], cwd=repo, env=ENV, check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def cached_tree_entries(repo: Path) -> int | None:
    """Entry count of the index's root cached tree (-1: invalid), None without one."""
    data = (repo / ".git" / "index").read_bytes()
    sig, version, _count = struct.unpack(">4sII", data[:12])
    if sig != b"DIRC" or version not in (2, 3):
        return None
    pos = 12
    for _ in range(_count):
        flags = struct.unpack(">H", data[pos + 60:pos + 62])[0]
        extended = version >= 3 and flags & 0x4000
        start = pos + 62 + (2 if extended else 0)
        end = data.index(b"\0", start)
        pos += (end - pos + 8) // 8 * 8
    while pos + 8 <= len(data) - 20:
        sig, size = struct.unpack(">4sI", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        if sig == b"TREE":
            rest = body[body.index(b"\0") + 1:]
            return int(rest.split(b" ", 1)[0])
        pos += 8 + size
    return None


def status_times(a: Path, b: Path, runs: int = 5) -> tuple[float, float]:
    """Median `git status` time in A and in B, runs alternating so load hits both alike."""
    argv = ["git", "status", "--porcelain"]
    wall(argv, a, ENV)  # warm-up (git may refresh and rewrite the index once)
    wall(argv, b, ENV)
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(wall(argv, a, ENV))
        times_b.append(wall(argv, b, ENV))
    return statistics.median(times_a), statistics.median(times_b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10,000 files")
    ap.add_argument("--src", type=Path, default=ROOT,
                    help="the checkout whose gitsync is run (default: this one)")
    a = ap.parse_args()
    n = 10_000 if a.quick else a.files
    base = Path(tempfile.mkdtemp(prefix="gitsync-bench-snapshot-"))
    try:
        synced, plain, home = base / "synced", base / "plain", base / "home"
        make_tree(synced, n)
        make_tree(plain, n)
        home.mkdir()
        os.sync()  # the files just written must not be flushed during either timing

        t_git = wall(["bash", "-c", "git init -q && git add -A && git commit -q -m x"],
                     plain, ENV)
        wait_for_gc(plain)
        os.sync()
        env = {**ENV, "GITSYNC_HOME": str(home),
               "PYTHONPATH": os.pathsep.join([str(a.src.resolve()),
                                              os.environ.get("PYTHONPATH", "")])}
        t_sync = wall([sys.executable, "-m", "gitsync.cli", "init", str(synced)], base, env)

        objs = {"gitsync": count_objects(synced), "git": count_objects(plain)}
        trees = {"gitsync": cached_tree_entries(synced), "git": cached_tree_entries(plain)}
        st_sync, st_git = status_times(synced, plain)
        fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=synced,
                              env=ENV, capture_output=True, text=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(f"First snapshot of {n:,} files of ~1 KB (gitsync from {a.src}); "
          f"fsck --strict: {'clean' if fsck.returncode == 0 else fsck.stderr.strip()}\n")
    print("| what | gitsync | git | ratio |")
    print("|---|---|---|---|")
    print(f"| first snapshot, whole process (`gitsync init` / `git init && add -A && commit`)"
          f" | {t_sync:.2f} s | {t_git:.2f} s | {t_sync / t_git:.2f}x |")
    for key, label in (("count", "loose objects"), ("size", "loose objects' size"),
                       ("packs", "packs"), ("size-pack", "pack size")):
        print(f"| {label} | {objs['gitsync'].get(key)} | {objs['git'].get(key)} | |")
    print(f"| index cached tree (root entries; -1 invalid) | {trees['gitsync']} | "
          f"{trees['git']} | |")
    print(f"| `git status` in the folder (median of 5) | {st_sync * 1000:.0f} ms | "
          f"{st_git * 1000:.0f} ms | {st_sync / st_git:.2f}x |")
    print("\ngit's figures for objects are read after its background `gc --auto` finished.")


if __name__ == "__main__":
    main()
