#!/usr/bin/env python3
"""Web benchmark: what a person waits for in the browser, timed from outside the daemon.

A real `gitsync run` serves the pages; every figure is a full HTTP request made by this
process over 127.0.0.1, the way the browser makes it, with the token from `gitsync web`.

1. History: a file with 10,000 commits; the first page of its history (50 versions) against
   `git log -n 50 -- FILE` on the same repository.
2. Time travel: a 100,000-file folder listed as of a past commit (the top level, with each
   entry's last change) against `git ls-tree REV` (names only, no last change).
3. Dashboard: time to the first byte of `/`, against `gitsync status` (the CLI's view of the
   same facts).
4. Load: two daemons and a hub; a save on A timed until it is on B's disk, first idle, then
   while 200 concurrent API requests at a time hit A's server. Errors are counted.

Prints a table; asserts nothing. `--quick` uses 10,000 files, 2,000 commits, fewer samples.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}
GS = [sys.executable, "-m", "gitsync.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gs(home: Path, *args: str) -> str:
    r = subprocess.run([*GS, *args], env={**ENV, "GITSYNC_HOME": str(home)},
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"gitsync {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True,
                          input=stdin).stdout.decode()


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def med_ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.1f} ms"


# ------------------------------------------------------------------ repositories
def long_history(folder: Path, commits: int) -> None:
    """One file edited COMMITS times (plus a second file now and then), via fast-import."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    out = []
    t = 1_700_000_000
    for i in range(commits):
        body = f"version {i}\n" + "".join(f"line {j}\n" for j in range(20))
        msg = "laptop: edited diary.txt\n\nDevice: laptop\n"
        out.append(f"commit refs/heads/main\nmark :{i + 1}\n"
                   f"committer bench <b@x> {t + i * 60} +0000\n"
                   f"data {len(msg)}\n{msg}\n")
        if i:
            out.append(f"from :{i}\n")
        out.append(f"M 100644 inline diary.txt\ndata {len(body.encode())}\n{body}\n")
        if i % 100 == 0:
            other = f"other {i}\n"
            out.append(f"M 100644 inline other.txt\ndata {len(other)}\n{other}\n")
    git(folder, "fast-import", "--quiet", stdin="".join(out).encode())
    git(folder, "checkout", "-q", "-f", "main")


def wide_folder(folder: Path, files: int) -> str:
    """FILES files in 1,000 directories; a second commit deletes one directory and edits
    others. Returns the first commit (the past time to travel to)."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    body = "".join(f"line {j} of a small text file\n" for j in range(30))
    per_dir = max(1, files // 1000)
    chunks = [f"blob\nmark :1\ndata {len(body)}\n{body}\n",
              "commit refs/heads/main\nmark :2\ncommitter bench <b@x> 1700000000 +0000\n"
              "data 5\nwide\n"]
    chunks += [f"M 100644 :1 d{i // per_dir:04d}/f{i:06d}.txt\n" for i in range(files)]
    chunks.append("\ncommit refs/heads/main\nmark :3\ncommitter bench <b@x> 1700000100 +0000\n"
                  "data 8\nchanges\nfrom :2\nD d0000\n")
    chunks += [f"M 100644 inline d{i // per_dir:04d}/f{i:06d}.txt\ndata 7\nedited\n"
               for i in range(per_dir, files, 97)]
    git(folder, "fast-import", "--quiet", stdin="".join(chunks).encode())
    git(folder, "checkout", "-q", "-f", "main")
    return git(folder, "rev-parse", "main~1").strip()


# ------------------------------------------------------------------ the daemon
class Daemon:
    def __init__(self, home: Path, log: Path) -> None:
        self.home = home
        self.port = free_port()
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([*GS, "run", "--port", str(self.port)],
                                     env={**ENV, "GITSYNC_HOME": str(home)},
                                     stdout=self._log, stderr=subprocess.STDOUT)
        url = gs(home, "web", "--no-open")
        m = re.search(r"token=([A-Za-z0-9_\-]+)", url)
        if not m:
            raise SystemExit(f"no login URL in: {url!r}")
        self.token = m.group(1)
        deadline = time.time() + 120
        while True:
            try:
                if self.get("/api/folders")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"the web server never answered; see {log}")
            time.sleep(0.2)
        self.settle()

    def settle(self, timeout: float = 300) -> None:
        """Wait until the daemon is idle (its start-up scan done): a page is timed the way a
        person loads it, on a daemon that is watching, not one still starting."""
        import psutil

        proc = psutil.Process(self.proc.pid)
        deadline = time.time() + timeout
        while time.time() < deadline:
            before = sum(proc.cpu_times()[:2])
            time.sleep(1.0)
            if sum(proc.cpu_times()[:2]) - before < 0.05:
                return

    def get(self, path: str, *, first_byte: bool = False) -> tuple[int, float]:
        """(status, seconds) for one GET; the whole body is read unless FIRST_BYTE."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}",
                                           "Host": f"127.0.0.1:{self.port}"})
        resp = conn.getresponse()
        if first_byte:
            resp.read(1)
        else:
            resp.read()
        took = time.perf_counter() - t0
        conn.close()
        return resp.status, took

    def folder_id(self, path: Path) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", "/api/folders", headers={"Authorization": f"Bearer {self.token}"})
        folders = json.loads(conn.getresponse().read())["folders"]
        conn.close()
        return next(f["id"] for f in folders if Path(f["path"]) == path)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(120)
        self._log.close()


def samples(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm: the first request of a kind pays imports and caches once
    return [fn() for _ in range(n)]


# ------------------------------------------------------------------ load
def propagation_under_load(work: Path, n: int) -> tuple[list[float], list[float], int, int]:
    """Save on A -> on B's disk: idle samples, then samples under 200 concurrent requests."""
    a, b = work / "A", work / "B"
    home_a, home_b = work / "home-a", work / "home-b"
    a.mkdir(parents=True)
    (a / "seed.txt").write_text("seed\n")
    for i in range(2000):  # a busy folder: something to list and log
        (a / f"doc{i:04d}.txt").write_text(f"document {i}\n")
    hub = json.loads(gs(home_a, "init", str(a), "--device", "laptop", "--json"))["remote"]
    gs(home_a, "sync", str(a))
    gs(home_b, "clone", hub, str(b), "--device", "desktop")
    da = Daemon(home_a, work / "a.log")
    db = Daemon(home_b, work / "b.log")
    fid = da.folder_id(a)
    stop = threading.Event()
    errors = 0
    done = 0
    lock = threading.Lock()
    paths = [f"/api/folders/{fid}/history?limit=50", f"/api/folders/{fid}/tree",
             "/api/folders", f"/api/folders/{fid}/history?path=seed.txt&limit=20"]

    def one(i: int) -> None:
        nonlocal errors, done
        try:
            status, _ = da.get(paths[i % len(paths)])
            ok = status == 200
        except OSError:
            ok = False
        with lock:
            done += 1
            errors += not ok

    def load() -> None:
        with ThreadPoolExecutor(200) as pool:
            while not stop.is_set():
                list(pool.map(one, range(200)))

    def save_and_wait(i: int, tag: str) -> float:
        name = f"save-{tag}-{i}.txt"
        text = f"sample {i} {time.time()}\n"
        t0 = time.perf_counter()
        (a / name).write_text(text)
        while True:
            try:
                if (b / name).read_text() == text:
                    return time.perf_counter() - t0
            except FileNotFoundError:
                pass
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"sample {name} never arrived; see {work}")
            time.sleep(0.005)

    try:
        time.sleep(3)
        idle = []
        for i in range(n):
            idle.append(save_and_wait(i, "idle"))
            time.sleep(1.5)
        loader = threading.Thread(target=load)
        loader.start()
        loaded = []
        try:
            time.sleep(1)
            for i in range(n):
                loaded.append(save_and_wait(i, "load"))
                time.sleep(1.5)
        finally:
            stop.set()
            loader.join()
        return idle, loaded, done, errors
    finally:
        da.stop()
        db.stop()


# ------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--commits", type=int, default=10_000)
    a = ap.parse_args()
    if a.quick:
        a.samples, a.files, a.commits = 5, 10_000, 2_000
    rows: list[tuple[str, ...]] = []
    work = Path(tempfile.mkdtemp(prefix="gitsync-bench-web-"))
    try:
        home = work / "home"
        diary, wide = work / "diary", work / "wide"
        print(f"building a {a.commits:,}-commit history and a {a.files:,}-file folder...",
              flush=True)
        long_history(diary, a.commits)
        past = wide_folder(wide, a.files)
        gs(home, "init", str(diary), "--device", "laptop")
        gs(home, "init", str(wide), "--device", "laptop")
        d = Daemon(home, work / "daemon.log")
        try:
            fid_diary, fid_wide = d.folder_id(diary), d.folder_id(wide)
            hist = samples(lambda: d.get(
                f"/api/folders/{fid_diary}/history?path=diary.txt&limit=50")[1], a.samples)
            git_log = samples(lambda: timed(lambda: git(
                diary, "log", "-n", "50", "--format=%H %an %at %s", "--", "diary.txt")),
                a.samples)
            rows.append((f"history page 1 (50 of {a.commits:,} versions)", med_ms(hist),
                         "<= 100 ms", f"git log -n 50 -- FILE: {med_ms(git_log)}"))
            tree = samples(lambda: d.get(
                f"/api/folders/{fid_wide}/tree?rev={quote(past)}")[1], a.samples)
            ls_tree = samples(lambda: timed(lambda: git(wide, "ls-tree", past)), a.samples)
            ls_all = samples(lambda: timed(lambda: git(wide, "ls-tree", "-r", past)),
                             max(3, a.samples // 4))
            rows.append((f"{a.files:,}-file folder as of a past commit", med_ms(tree),
                         "<= 1 s", f"git ls-tree REV: {med_ms(ls_tree)}; "
                                   f"-r: {med_ms(ls_all)}"))
            dash = samples(lambda: d.get("/", first_byte=True)[1], a.samples)
            status = samples(lambda: timed(lambda: gs(home, "status")), max(3, a.samples // 4))
            rows.append(("dashboard, first byte", med_ms(dash), "<= 50 ms",
                         f"gitsync status (CLI): {med_ms(status)}"))
        finally:
            d.stop()
        idle, loaded, done, errors = propagation_under_load(work / "load", a.samples)
        ratio = statistics.median(loaded) / statistics.median(idle)
        rows.append(("save on A -> on B's disk, idle", f"{statistics.median(idle):.2f} s",
                     "", "bench_sync.py's figure, this run"))
        rows.append(("... under 200 concurrent API requests",
                     f"{statistics.median(loaded):.2f} s ({ratio:.2f}x)", "<= 1.2x idle",
                     f"{done:,} requests, {errors} errors"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = ("measure", "gitsync (median)", "target", "baseline, same run")
    w = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print()
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(header)))
    print("  ".join("-" * w[i] for i in range(4)))
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
