#!/usr/bin/env python3
"""Sync benchmark: save-to-other-disk propagation, and merging two big histories.

1. Propagation: two `gitsync run` daemons (two gitsync homes = two devices) on default
   settings; a file saved on device A is timed until it is on device B's disk. Over a local
   hub, and over SSH to a real sshd on 127.0.0.1 (skipped with a note when sshd is absent).
   Reference figures measured on this kind of machine for Syncthing 1.19 (loopback): 10.0 s
   median with its defaults, 1.01 s with its watcher delay cut to 1 s.
2. Merge: device A and device B each change 1,000 different files of a 100,000-file folder
   (100 of them the same files, different lines); B's `sync` round (fetch, three-way merge,
   disk update, push) is timed against `git pull --no-rebase` on an identical copy.

Prints a table; asserts nothing. `--quick` uses fewer samples and a 10,000-file folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}
GS = [sys.executable, "-m", "gitsync.cli"]


def gs(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    e = {**ENV, **(env or {}), "GITSYNC_HOME": str(home)}
    r = subprocess.run([*GS, *args], env=e, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"gitsync {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True,
                          text=True).stdout


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def propagation(work: Path, remote: str | None, samples: int,
                env: dict[str, str] | None = None) -> list[float]:
    """Seconds from a save on A to the file on B's disk, SAMPLES times."""
    a, b = work / "A", work / "B"
    home_a, home_b = work / "home-a", work / "home-b"
    a.mkdir(parents=True)
    (a / "seed.txt").write_text("seed\n")
    init = ["init", str(a), "--device", "laptop", "--json"]
    if remote:
        init += ["--remote", remote]
    hub = json.loads(gs(home_a, *init, env=env))["remote"]
    gs(home_a, "sync", str(a), env=env)
    gs(home_b, "clone", hub, str(b), "--device", "desktop", env=env)
    for home in (home_a, home_b):  # the SSH "host" runs this checkout's gitsync
        cfg = home / "config" / "config.toml"
        cfg.write_text(cfg.read_text().replace(
            "[settings]", f'[settings]\nremote_gitsync = "{sys.executable} -m gitsync.cli"'))
    logs = []
    procs = []
    for home in (home_a, home_b):
        log = open(work / f"{home.name}.log", "wb")  # noqa: SIM115
        logs.append(log)
        procs.append(subprocess.Popen([*GS, "run", "--no-web"],
                                      env={**ENV, **(env or {}), "GITSYNC_HOME": str(home)},
                                      stdout=log, stderr=subprocess.STDOUT))
    try:
        time.sleep(4)  # both daemons up, start-up syncs done
        out = []
        for i in range(samples):
            name = f"save-{i}.txt"
            text = f"sample {i} {time.time()}\n"
            t0 = time.perf_counter()
            (a / name).write_text(text)
            target = b / name
            while True:
                try:
                    if target.read_text() == text:
                        break
                except FileNotFoundError:
                    pass
                if time.perf_counter() - t0 > 60:
                    raise SystemExit(f"sample {i} never arrived; see {work}")
                time.sleep(0.005)
            out.append(time.perf_counter() - t0)
            time.sleep(1.5)  # let both sides go idle again
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        for log in logs:
            log.close()


def make_tree(root: Path, n: int) -> None:
    blob = "".join(f"line {i} of a small text file\n" for i in range(30))
    for i in range(n):
        d = root / f"d{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.txt").write_text(blob + f"{i}\n")


def edit(root: Path, indices: range | list[int], line: int, tag: str) -> None:
    for i in indices:
        p = root / f"d{i // 100:04d}" / f"f{i:06d}.txt"
        lines = p.read_text().splitlines(keepends=True)
        lines[line] = f"{tag} {i}\n"
        p.write_text("".join(lines))


def merge_bench(work: Path, files: int) -> tuple[float, float, int]:
    from gitsync.committer import Committer
    from gitsync.ignore import IgnoreRules
    from gitsync.repo import Repo
    from gitsync.sync import Syncer

    a = work / "mA"
    make_tree(a, files)
    hub = work / "hub.git"
    git(work, "init", "-q", "--bare", "-b", "main", str(hub))
    git(a, "init", "-q", "-b", "main")
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "base")
    git(a, "remote", "add", "origin", str(hub))
    git(a, "push", "-q", "origin", "main")
    b = work / "mB"
    git(work, "clone", "-q", str(hub), str(b))
    c = work / "mC"  # the git CLI baseline: same state as B
    git(work, "clone", "-q", str(hub), str(c))
    step = max(1, files // 1000)
    ours = list(range(0, files, step))[:1000]
    theirs = [i + 1 for i in ours[:900]] + ours[900:1000]  # 100 files edited by both
    edit(a, theirs, 2, "theirs")
    git(a, "commit", "-q", "-am", "theirs")
    git(a, "push", "-q", "origin", "main")
    for d in (b, c):
        edit(d, ours, 20, "ours")
        git(d, "commit", "-q", "-am", "ours")
    os.sync()  # time the merge, not the write-back of the trees generated above
    repo = Repo(b)
    committer = Committer(repo, "desktop", size_limit=10**9, ignore=IgnoreRules())
    syncer = Syncer(repo, str(hub), "main", device="desktop")
    t0 = time.perf_counter()
    def commit_pending(paths: list[str]) -> None:
        committer.commit(paths)

    out = syncer.sync(commit_pending)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    git(c, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    t_git = time.perf_counter() - t0
    assert out.action == "merged", out.action
    return t_ours, t_git, len(out.conflicts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-ssh", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.samples, a.files = 5, 10_000
    rows = []
    work = Path(tempfile.mkdtemp(prefix="gitsync-bench-sync-"))
    try:
        lat = propagation(work / "local", None, a.samples)
        rows.append(("save on A -> on B's disk, local hub", f"{statistics.median(lat):.2f} s",
                     f"{pct(lat, 95):.2f} s", "<= 1.3 s / p95 <= 2.0 s",
                     "Syncthing: 10.0 s default, 1.01 s at 1 s delay"))
        if not a.skip_ssh and Path("/usr/sbin/sshd").exists():
            from tests.sshd import SshServer

            with SshServer(work / "sshd") as server:
                hub = work / "ssh-hub.git"
                git(work, "init", "-q", "--bare", "-b", "main", str(hub))
                env = {"GIT_SSH_COMMAND": server.ssh_command()}
                lat = propagation(work / "ssh", server.url(hub), a.samples, env)
            rows.append(("save on A -> on B's disk, SSH loopback",
                         f"{statistics.median(lat):.2f} s", f"{pct(lat, 95):.2f} s",
                         "<= 1.6 s / p95 <= 2.0 s", "Syncthing: as above"))
        else:
            rows.append(("save on A -> on B's disk, SSH loopback", "n/a", "n/a",
                         "sshd not installed", ""))
        t_ours, t_git, n_conf = merge_bench(work / "merge", a.files)
        rows.append((f"merge 1,000 + 1,000 changed of {a.files:,} files",
                     f"{t_ours:.2f} s", "", "<= 2 s",
                     f"git pull --no-rebase: {t_git:.2f} s ({n_conf} conflicts)"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = ("measure", "median", "p95", "target", "baseline")
    w = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    print()
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(header)))
    print("  ".join("-" * w[i] for i in range(5)))
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
