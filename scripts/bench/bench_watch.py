#!/usr/bin/env python3
"""Synced-folder benchmark: what the user waits for, beside the git CLI on an identical copy.

Builds a folder of N files (default 100,000 of about 1 KB, in 1,000 directories) twice,
one copy for gitsync and one for the git CLI baseline, and prints a table with both side
by side. The headline rows are timed from outside, as processes, exactly like the git
baseline beside them:

- first snapshot: a ``gitsync init`` process against ``git init && git add -A && git commit``;
- start-up: a ``gitsync run`` process started -> the folder's state file (what ``gitsync
  status`` reads) says ``watching``, which the worker writes once its start-up scan is done
  (seen with inotify on the state directory), against a ``git status`` process and
  ``python -c pass`` (the interpreter's own start);
- save -> commit: this process writes a file -> the folder's branch ref moved (seen with
  inotify on ``.git/refs/heads`` and ``.git``), minus the daemon's debounce, against
  ``git add -A && git commit`` processes run right after the same write on the plain copy.

In-process figures (the commit call, the index write, the scan's ``git status``) follow
as a breakdown. Nothing is asserted: these machines are noisy. Run:

    .venv/bin/python scripts/bench/bench_watch.py [--files N] [--saves 20] [--quick]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gitsync.committer import Committer  # noqa: E402
from gitsync.config import Paths, folder_key  # noqa: E402
from gitsync.ignore import IgnoreRules  # noqa: E402
from gitsync.repo import Repo  # noqa: E402

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}
GITSYNC = [sys.executable, "-m", "gitsync.cli"]
Row = tuple[str, str, str, str]


def make_tree(root: Path, n: int) -> None:
    per_dir = 100
    blob = b"".join(b"line %d of a small text file\n" % i for i in range(36))  # ~1 KB
    for i in range(n):
        d = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.txt").write_bytes(blob + str(i).encode())


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, check=True, env=ENV, capture_output=True)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def ms(s: float) -> str:
    return f"{s * 1000:.1f} ms"


def p90(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]


# ------------------------------------------------------------------ watching files from here
_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100


class DirWatch:
    """inotify on a few directories of this process: the moment something there changed."""

    def __init__(self, *dirs: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        for d in dirs:
            if libc.inotify_add_watch(self.fd, os.fsencode(d), mask) < 0:
                raise OSError(ctypes.get_errno(), f"cannot watch {d}")

    def drain(self) -> None:
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def wait_until(self, pred: Callable[[], bool], timeout: float) -> float | None:
        """The perf_counter time of the event after which PRED held (None: timed out)."""
        end = time.perf_counter() + timeout
        while True:
            now = time.perf_counter()
            if pred():
                return now
            if now > end:
                return None
            ready, _, _ = select.select([self.fd], [], [], min(0.05, end - now))
            if ready:
                stamp = time.perf_counter()
                self.drain()
                if pred():
                    return stamp

    def close(self) -> None:
        os.close(self.fd)


def branch_value(gitdir: Path, branch: str = "main") -> str | None:
    """The branch's commit id, read from its loose ref file or packed-refs."""
    try:
        return (gitdir / "refs" / "heads" / branch).read_text().strip()
    except FileNotFoundError:
        pass
    try:
        for line in (gitdir / "packed-refs").read_text().splitlines():
            if line.endswith(f" refs/heads/{branch}"):
                return line.split()[0]
    except FileNotFoundError:
        pass
    return None


def state_file_of(home: Path, folder: Path) -> Path:
    """Where the daemon writes FOLDER's state (``gitsync status`` reads it)."""
    paths = Paths.discover({"GITSYNC_HOME": str(home)})
    return paths.folder_state_file(folder_key(folder.resolve()))


def folder_state(state_file: Path) -> str | None:
    try:
        return str(json.loads(state_file.read_text())["state"])
    except (OSError, ValueError, KeyError):
        return None


# ------------------------------------------------------------------ a daemon process
class Daemon:
    """A `gitsync run --no-web` process; its stderr lines, stamped when they arrive."""

    def __init__(self, home: Path, debounce: float) -> None:
        self.env = {**ENV, "GITSYNC_HOME": str(home)}
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([*GITSYNC, "run", "--no-web", "--debounce", str(debounce)],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.ps = psutil.Process(self.proc.pid)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.put((time.perf_counter(), raw.decode(errors="replace").rstrip()))

    def wait_line(self, pattern: str, timeout: float = 900) -> float:
        """When a line matching PATTERN arrived (perf_counter)."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                stamp, line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if rx.search(line):
                return stamp
        raise RuntimeError(f"daemon never logged {pattern!r}")

    def wait_quiet(self, limit: float = 900) -> None:
        """Until the process uses no CPU for 3 s in a row (the first push, index writes)."""
        quiet, prev, end = 0, self.ps.cpu_times(), time.monotonic() + limit
        while quiet < 3 and time.monotonic() < end:
            time.sleep(1)
            cur = self.ps.cpu_times()
            busy = (cur.user + cur.system) - (prev.user + prev.system)
            quiet = quiet + 1 if busy < 0.02 else 0
            prev = cur

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self._reader.join(10)


def save(folder: Path, rel: str, i: int) -> float:
    """Write one file as an editor would; the time the write began."""
    t = time.perf_counter()
    with open(folder / rel, "w") as fh:
        fh.write(f"edit {i} of this file at {time.time_ns()}\n")
    return t


def save_to_commit(folder: Path, watch: DirWatch, rel: str, i: int, debounce: float) -> float:
    """Seconds from the write to the branch moved, minus the debounce."""
    gitdir = folder / ".git"
    old = branch_value(gitdir)
    watch.drain()
    t0 = save(folder, rel, i)
    moved = watch.wait_until(lambda: branch_value(gitdir) != old, timeout=debounce + 30)
    if moved is None:
        raise RuntimeError(f"the branch did not move after saving {rel}")
    return moved - t0 - debounce


def edit_path(i: int, files: int) -> str:
    k = (i * 37) % (files // 100)
    return f"d{k:04d}/f{k * 100 + i % 100:06d}.txt"


def table(rows: list[Row]) -> None:
    header = ("measure", "gitsync", "git CLI", "ratio / target")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--saves", type=int, default=20)
    ap.add_argument("--starts", type=int, default=3, help="daemon start-ups to time")
    ap.add_argument("--debounce", type=float, default=1.0,
                    help="the daemon's debounce (subtracted from save -> commit)")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle measurement")
    ap.add_argument("--quick", action="store_true", help="10,000 files, 10 saves, 10 s idle")
    a = ap.parse_args()
    if a.quick:
        a.files, a.saves, a.idle = 10_000, 10, 10.0
    work = Path(tempfile.mkdtemp(prefix="gitsync-bench-"))
    rows: list[Row] = []
    breakdown: list[Row] = []
    daemon: Daemon | None = None
    try:
        ours, theirs, home = work / "gitsync", work / "gitcli", work / "home"
        t = time.perf_counter()
        make_tree(ours, a.files)
        make_tree(theirs, a.files)
        print(f"generated 2 x {a.files} files in {time.perf_counter() - t:.1f} s", flush=True)
        # Start both from files already on disk (as a user's are), not from dirty pages a
        # flush would charge to whichever side runs first.
        os.sync()

        # -- first snapshot, both as processes
        def snap_git() -> None:
            git(theirs, "init", "-q", "-b", "main")
            git(theirs, "add", "-A")
            git(theirs, "commit", "-q", "-m", "s")

        t_git = timed(snap_git)
        os.sync()
        env = {**ENV, "GITSYNC_HOME": str(home)}
        t_ours = timed(lambda: subprocess.run([*GITSYNC, "init", str(ours), "--device", "bench"],
                                              env=env, check=True, capture_output=True))
        rows.append(("first snapshot: `gitsync init` process", f"{t_ours:.2f} s",
                     f"{t_git:.2f} s", f"{t_ours / t_git:.2f}x (target <= 1.0x)"))
        print(f"first snapshot: {t_ours:.1f} s vs git {t_git:.1f} s", flush=True)

        # The first start pushes the whole history to the local hub: let it finish.
        daemon = Daemon(home, a.debounce)
        daemon.wait_line(r"gitsync .* running")
        daemon.wait_quiet()
        daemon.stop()
        daemon = None

        # -- start-up on the unchanged folder, and the first save after it
        git_status = [timed(lambda: git(theirs, "status", "--porcelain")) for _ in range(5)]
        interp = [timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
                  for _ in range(5)]
        ours_status = [timed(lambda: git(ours, "status", "--porcelain")) for _ in range(5)]
        watch = DirWatch(ours / ".git" / "refs" / "heads", ours / ".git")
        state_file = state_file_of(home, ours)
        state_watch = DirWatch(state_file.parent)
        starts: list[float] = []
        first: list[float] = []
        first_git: list[float] = []
        for k in range(a.starts):
            os.sync()
            state_watch.drain()
            daemon = Daemon(home, a.debounce)
            ready = state_watch.wait_until(lambda: folder_state(state_file) == "watching", 900)
            if ready is None:
                raise RuntimeError("the folder never reached 'watching'")
            starts.append(ready - daemon.started)
            rel = edit_path(1000 + k, a.files)
            first.append(save_to_commit(ours, watch, rel, k, a.debounce))
            (theirs / rel).write_text(f"edit {k} of this file at {time.time_ns()}\n")
            first_git.append(timed(lambda: (git(theirs, "add", "-A"),
                                            git(theirs, "commit", "-q", "-m", "e"))))
            if k < a.starts - 1:
                daemon.wait_quiet()
                daemon.stop()
                daemon = None
        gs, py = statistics.median(git_status), statistics.median(interp)
        st = statistics.median(starts)
        rows.append((f"start-up: `gitsync run` -> watching, scan done (median of {a.starts})",
                     ms(st), f"`git status`: {ms(gs)}",
                     f"{st / (2 * gs + py):.2f}x of 2 x git status + interpreter "
                     f"(target <= 1.0x); runs: {', '.join(f'{s * 1000:.0f}' for s in starts)}"
                     " ms"))
        rows.append(("  interpreter start, `python -c pass`", ms(py), "", ""))
        rows.append(("`git status` in the synced folder vs the plain copy",
                     ms(statistics.median(ours_status)), ms(gs),
                     f"{statistics.median(ours_status) / gs:.2f}x (target <= 1.0x)"))
        fm, fg = statistics.median(first), statistics.median(first_git)
        rows.append((f"first save after start-up -> branch moved, minus debounce "
                     f"(median of {a.starts})", ms(fm), ms(fg),
                     f"{fg / fm:.0f}x faster; runs: "
                     f"{', '.join(f'{s * 1000:.0f}' for s in first)} ms"))

        # -- save -> commit, in the last daemon, one save at a time
        assert daemon is not None
        daemon.wait_quiet()
        lat, lat_git = [], []
        for i in range(a.saves):
            rel = edit_path(i, a.files)
            lat.append(save_to_commit(ours, watch, rel, i, a.debounce))
            (theirs / rel).write_text(f"edit {i} of this file at {time.time_ns()}\n")
            lat_git.append(timed(lambda: (git(theirs, "add", "-A"),
                                          git(theirs, "commit", "-q", "-m", "e"))))
            time.sleep(0.5)  # the push and the index write that follow a commit
        mo, mg = statistics.median(lat), statistics.median(lat_git)
        rows.append((f"save -> branch moved, minus the {a.debounce:g} s debounce "
                     f"(median of {a.saves})", ms(mo), ms(mg),
                     f"{mg / mo:.0f}x faster (target <= 20 ms, >= 20x)"))
        rows.append(("  ... p90", ms(p90(lat)), ms(p90(lat_git)), ""))

        # -- idle cost of the daemon on the big folder
        daemon.wait_quiet()
        c0 = daemon.cpu()
        time.sleep(a.idle)
        c1 = daemon.cpu()
        rss = daemon.ps.memory_info().rss / 1e6
        rows.append((f"daemon idle, {a.files} files, {a.idle:.0f} s", f"{c1 - c0:.2f} s CPU",
                     "", f"RSS {rss:.0f} MB (target <= 150 MB)"))
        daemon.stop()
        daemon = None
        watch.close()
        state_watch.close()
        rows.append(idle_small(work, a.idle, a.debounce))

        # -- breakdown: the same work inside one interpreter (no start, no events, no queue)
        repo = Repo(ours)
        committer = Committer(repo, "bench", size_limit=10**9, ignore=IgnoreRules())
        call, index, first_index = [], [], 0.0
        for i in range(a.saves):
            rel = edit_path(500 + i, a.files)
            (ours / rel).write_text(f"edit {i} in process at {time.time_ns()}\n")
            call.append(timed(lambda rel=rel: committer.commit([rel], defer_index=True)))
            index.append(timed(repo.flush_index))
            if i == 0:
                first_index = call[0] + index[0]
        breakdown.append(("commit call (stage, trees, commit, ref), median", ms(
            statistics.median(call)), "", f"first in a fresh Repo: {ms(call[0])}"))
        breakdown.append(("index write after it, median", ms(statistics.median(index)), "",
                          f"first: {ms(first_index - call[0])}"))
        scan = statistics.median(timed(repo.changed_paths) for _ in range(3))
        breakdown.append(("start-up scan's `git status` call", ms(scan), ms(gs), ""))
        fsync = fsync_cost(work)
        breakdown.append(("one fsync of a new 1 KB file (+ its directory)",
                          f"{ms(fsync[0])} (+ {ms(fsync[1])})", "", ""))
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)

    table(rows)
    print("\nBreakdown, in-process:")
    table(breakdown)


def idle_small(work: Path, seconds: float, debounce: float) -> Row:
    """CPU and memory of a daemon syncing a folder of 20 small files, once it is quiet."""
    small, home = work / "small", work / "home-small"
    small.mkdir()
    for i in range(20):
        (small / f"note{i}.txt").write_text("x\n")
    subprocess.run([*GITSYNC, "init", str(small)], env={**ENV, "GITSYNC_HOME": str(home)},
                   check=True, capture_output=True)
    d = Daemon(home, debounce)
    try:
        d.wait_line(r"gitsync .* running")
        d.wait_quiet()
        c0 = d.cpu()
        time.sleep(seconds)
        cpu, rss = d.cpu() - c0, d.ps.memory_info().rss / 1e6
    finally:
        d.stop()
    return (f"daemon idle, 20 files, {seconds:.0f} s", f"{cpu:.2f} s CPU", "",
            f"RSS {rss:.0f} MB (target <= 80 MB)")


def fsync_cost(work: Path, n: int = 20) -> tuple[float, float]:
    """Median seconds of fsync on a new small file, and of fsync on its directory."""
    d = work / "fsync"
    d.mkdir()
    files, dirs = [], []
    for i in range(n):
        fd = os.open(d / f"f{i}", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"x" * 1024)
        files.append(timed(lambda fd=fd: os.fsync(fd)))
        os.close(fd)
        dfd = os.open(d, os.O_RDONLY)
        dirs.append(timed(lambda dfd=dfd: os.fsync(dfd)))
        os.close(dfd)
    return statistics.median(files), statistics.median(dirs)


if __name__ == "__main__":
    main()
