"""Scale: a 100,000-file folder with a 50,000-commit history, measured as a user meets it.

The history is built with ``git fast-import`` from a generated stream, as a project that
grew over years would look: the files arrive in batches of a few dozen early on, then each
commit touches a few files (one line edited in one to four files of one directory, now and
then a rename, or a file deleted and another added). The stream goes into a bare hub.

Registration is what a user with such a project does: device A is an ordinary ``git
clone`` of the hub that ``gitsync init`` adopts (its ``origin`` becomes the remote; nothing
is re-committed), and device B joins with ``gitsync clone``. C, a plain ``git clone``, is
the git CLI baseline.

Measured from outside the processes, like ``scripts/bench`` (issue 10), each beside its
baseline from the same run:

- start-up: ``gitsync run`` started -> "watching (scan done)" in its log, against
  ``git status`` in the same folder and the interpreter's start (target: within 2x
  ``git status`` plus the interpreter);
- ``gitsync log -n 50`` (the first page) as a process, against ``git log -n 50
  --name-status``;
- a sync round merging changes from both devices: B commits and pushes its N changed files,
  then A's ``gitsync sync`` commits its own N and merges B's, against ``git add -A && git
  commit && git pull --no-rebase && git push`` on C with the same edits (target <= 1.0x);
- memory over a soak: both daemons on default settings (web server included) while a
  writer saves files in A's big folder; RSS sampled every 10 s (quick: 2 s); a clear upward
  trend over the second half fails the row.

Then the invariants: no owed version of the writer lost, ``git fsck --full --strict`` clean
in A, B and the hub, A, B and the hub converged, no conflict markers. A figure that misses
its target is a note; only a broken invariant is a failure.

Full run: 100,000 files, 50,000 commits, 1,000 + 1,000 changed files, 30-minute soak.
Quick (CI): 10,000 files, 5,000 commits, 200 + 200 changed files, a 60-second soak.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.harness import (
    GITSYNC,
    ROOT,
    SETTLE,
    Checked,
    Device,
    OutsideGuard,
    Row,
    Sandbox,
    Writer,
    WriterLog,
    check_invariants,
    converged,
    memory_failed,
    rss_trend,
    sampling_rss,
    wait_converged,
)

LOG_PAGE = 50
LINES = 26  # lines per generated file: about 1 KB
PER_DIR = 100


# ---------------------------------------------------------------------------------------
# the history


def file_content(uid: int, version: int) -> bytes:
    """File UID after VERSION one-line edits: edit e rewrites line e % LINES, so every
    edit changes exactly one line and the content never repeats."""
    out = []
    for k in range(LINES):
        touched = (version - k + LINES - 1) // LINES if version > k else 0
        if touched:
            out.append(f"line {k:02d} of file {uid:06d}, edit {touched} of this line\n")
        else:
            out.append(f"line {k:02d} of a small text file, number {uid:06d}\n")
    return "".join(out).encode()


@dataclass
class History:
    """What the generated stream left at the tip: the paths of the files, sorted."""

    files: int
    commits: int
    paths: list[str] = field(default_factory=list)
    seconds: float = 0.0


def history_stream(files: int, commits: int, rng: random.Random, out: History
                   ) -> Iterator[bytes]:
    """A fast-import stream of COMMITS commits on refs/heads/main leaving FILES files in
    about FILES / 100 directories. Fills OUT.paths with the tip's files."""
    assert commits >= 2 and files >= commits // 20 + 1
    dirs = max(1, files // PER_DIR)
    adding = max(1, commits // 20)  # the first 5% of commits bring the files in
    per_add = -(-files // adding)
    path: list[str] = []
    uid: list[int] = []
    ver: list[int] = []
    next_uid = files
    when = 1_577_836_800  # 2020-01-01
    authors = ("Ada <ada@example.invalid>", "Bo <bo@example.invalid>",
               "Cy <cy@example.invalid>")

    def blob(data: bytes) -> bytes:
        return b"data %d\n%s\n" % (len(data), data)

    for c in range(commits):
        when += rng.randint(60, 3 * 3600)
        ops: list[bytes] = []
        if c < adding:
            first = c * per_add
            for i in range(first, min(files, first + per_add)):
                p = f"d{i % dirs:04d}/f{i:06d}.txt"
                path.append(p)
                uid.append(i)
                ver.append(0)
                ops.append(b"M 100644 inline %s\n" % p.encode() + blob(file_content(i, 0)))
            msg = f"Add {len(ops)} files"
        else:
            roll = rng.random()
            if roll < 0.05:  # a rename, sometimes into another directory
                i = rng.randrange(files)
                d = path[i].split("/", 1)[0] if rng.random() < 0.7 else \
                    f"d{rng.randrange(dirs):04d}"
                new = f"{d}/r{uid[i]:06d}-{c}.txt"
                ops.append(b"R %s %s\n" % (path[i].encode(), new.encode()))
                msg = f"Rename {path[i]} to {new}"
                path[i] = new
            elif roll < 0.10:  # one file deleted, another added
                i = rng.randrange(files)
                ops.append(b"D %s\n" % path[i].encode())
                old = path[i]
                path[i] = f"d{rng.randrange(dirs):04d}/f{next_uid:06d}.txt"
                uid[i], ver[i] = next_uid, 0
                next_uid += 1
                ops.append(b"M 100644 inline %s\n" % path[i].encode()
                           + blob(file_content(uid[i], 0)))
                msg = f"Replace {old} with {path[i]}"
            else:  # one to four files of one directory edited
                first = rng.randrange(files)  # and a few of its neighbours
                home = path[first].split("/", 1)[0]
                chosen = [(first + k * dirs) % files for k in range(rng.randint(1, 4))]
                for i in chosen:
                    ver[i] += 1
                    ops.append(b"M 100644 inline %s\n" % path[i].encode()
                               + blob(file_content(uid[i], ver[i])))
                msg = f"Edit {len(chosen)} file(s) in {home}"
        who = authors[rng.randrange(len(authors))].encode()
        head = b"commit refs/heads/main\nauthor %s %d +0000\ncommitter %s %d +0000\n" % (
            who, when, who, when) + blob(msg.encode())
        if c == 0:
            head += b"deleteall\n"
        yield head + b"".join(ops) + b"\n"
    out.paths = sorted(path)


def build_hub(sandbox: Sandbox, hub: Path, files: int, commits: int, rng: random.Random
              ) -> History:
    """A bare HUB holding the generated history (one pack, as fast-import writes it)."""
    t0 = time.monotonic()
    sandbox.run("git", "init", "-q", "--bare", "-b", "main", str(hub))
    hist = History(files, commits)
    proc = subprocess.Popen(["git", "-C", str(hub), "fast-import", "--quiet"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=sandbox.env)
    assert proc.stdin is not None
    try:
        buf: list[bytes] = []
        size = 0
        for chunk in history_stream(files, commits, rng, hist):
            buf.append(chunk)
            size += len(chunk)
            if size > 1 << 20:
                proc.stdin.write(b"".join(buf))
                buf, size = [], 0
        proc.stdin.write(b"".join(buf))
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed: {err.strip()[-2000:]}")
    hist.seconds = time.monotonic() - t0
    return hist


def edit_line(folder: Path, rels: list[str], line: int, tag: str) -> None:
    """Rewrite line LINE of each file, as an editor saving a small change would."""
    for rel in rels:
        p = folder / rel
        lines = p.read_bytes().splitlines(keepends=True)
        lines[line] = f"{tag} {rel}\n".encode()
        p.write_bytes(b"".join(lines))


# ---------------------------------------------------------------------------------------
# timing processes from outside


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=900)
    took = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace').strip()[-1500:]}")
    return took


def median_of(n: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(n))


def timed_start(device: Device, timeout: float = 600) -> float:
    """Start DEVICE's daemon (``gitsync run --no-web``) and return the seconds until its
    log says the start-up scan is done, polled every 5 ms from outside."""
    assert not device.running
    mark = device.log_size()
    fh = open(device.logfile, "ab")  # noqa: SIM115 - the child holds it
    t0 = time.perf_counter()
    device.proc = subprocess.Popen([*GITSYNC, "run", "--no-web"], stdout=fh,
                                   stderr=subprocess.STDOUT, env=device.env,
                                   start_new_session=True)
    fh.close()
    device.starts += 1
    end = t0 + timeout
    with open(device.logfile, "rb") as log:
        log.seek(mark)
        seen = b""
        while time.perf_counter() < end:
            seen += log.read()
            if b"watching (scan done)" in seen:
                return time.perf_counter() - t0
            if not device.running:
                break
            time.sleep(0.005)
    raise RuntimeError(f"{device.name}: no 'watching (scan done)' within {timeout}s:\n"
                       f"{device.log_since(mark)[-3000:]}")


# ---------------------------------------------------------------------------------------
# the run


def run(root: Path, *, quick: bool, seed: int, say: Callable[[str], None]) -> list[Row]:
    if quick:
        return [scale(root, files=10_000, commits=5_000, changed=200, soak=60.0, every=2.0,
                      seed=seed, say=say)]
    return [scale(root, files=100_000, commits=50_000, changed=1_000, soak=1800.0,
                  every=10.0, seed=seed, say=say)]


def scale(root: Path, *, files: int, commits: int, changed: int, soak: float, every: float,
          seed: int, say: Callable[[str], None]) -> Row:
    row = Row(suite=f"scale ({files:,} files, {commits:,} commits)")
    rng = random.Random(seed)
    sandbox = Sandbox(root)
    env = sandbox.env
    # As installed: bytecode compiled, so start-up is not timed compiling gitsync.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "gitsync")],
                   check=True, capture_output=True)
    a, b = Device(sandbox, "A"), Device(sandbox, "B")
    c_dir = root / "C"
    hub = root / "hub.git"

    # -- building: the history, A adopted, B cloned, C the git baseline
    t_build = time.monotonic()
    hist = build_hub(sandbox, hub, files, commits, rng)
    say(f"scale: fast-import of {commits:,} commits, {files:,} files: {hist.seconds:.1f} s")
    t0 = time.perf_counter()
    sandbox.run("git", "clone", "-q", str(hub), str(a.folder), timeout=900)
    t_git_clone = time.perf_counter() - t0
    t0 = time.perf_counter()
    a.gitsync("init", str(a.folder), "--device", "A", timeout=900)
    t_adopt = time.perf_counter() - t0
    a.sync(timeout=900)
    t0 = time.perf_counter()
    b.gitsync("clone", str(hub), str(b.folder), "--device", "B", timeout=900)
    t_clone = time.perf_counter() - t0
    sandbox.run("git", "clone", "-q", str(hub), str(c_dir), timeout=900)
    built = time.monotonic() - t_build
    say(f"scale: built in {built:.0f} s")
    row.notes.append(
        f"built in {built:.0f} s (fast-import {hist.seconds:.0f} s); A is a git clone adopted "
        f"by `gitsync init` in {t_adopt:.2f} s (its `git clone` took {t_git_clone:.2f} s), "
        f"B joined with `gitsync clone` in {t_clone:.2f} s")
    hub_c = root / "hub-C.git"
    writer_log = WriterLog(root / "writer-A.log")
    guard = OutsideGuard(sandbox, [a.folder, b.folder, a.home, b.home, hub, hub_c, c_dir,
                                   sandbox.root / "home", writer_log.path])
    samples: dict[str, list[tuple[float, int]]] = {}
    writer: Writer | None = None
    try:
        # -- start-up, against git status in the same folder and the interpreter
        py = median_of(3, lambda: timed([sys.executable, "-c", "pass"], env))
        starts, statuses = [], []
        for _ in range(3):
            statuses.append(median_of(3, lambda: timed(["git", "status", "--porcelain"], env,
                                                      cwd=a.folder)))
            starts.append(timed_start(a))
            a.stop()
        start, status = statistics.median(starts), statistics.median(statuses)
        allowed = 2 * status + py
        row.notes.append(
            f"start-up (`gitsync run` -> 'watching (scan done)', median of 3): "
            f"{start:.2f} s; `git status` {status:.2f} s, interpreter {py:.3f} s: "
            f"{start / allowed:.2f}x of 2x git status + interpreter (target <= 1.0x; "
            f"issue 10 measured 365 ms at 0.92x on 100,000 files)")
        say(f"scale: start-up {start:.2f} s, git status {status:.2f} s")

        # -- the first page of the log
        t_log = median_of(3, lambda: timed([*GITSYNC, "log", "-n", str(LOG_PAGE), "--folder",
                                            str(a.folder)], a.env))
        t_git_log = median_of(3, lambda: timed(["git", "log", "-n", str(LOG_PAGE),
                                                "--name-status"], env, cwd=a.folder))
        row.notes.append(f"`gitsync log -n {LOG_PAGE}` process {t_log:.2f} s against "
                         f"`git log -n {LOG_PAGE} --name-status` {t_git_log:.3f} s "
                         f"({t_log / t_git_log:.1f}x; the interpreter's start alone is "
                         f"{py:.3f} s; issue 10 sets no target for it)")
        say(f"scale: log page {t_log:.2f} s, git log {t_git_log:.3f} s")

        # -- a sync round merging N + N changed files
        step = max(1, len(hist.paths) // changed)
        ours = hist.paths[::step][:changed]
        theirs_idx = [i * step + 1 for i in range(changed * 9 // 10)]
        theirs = [hist.paths[i] for i in theirs_idx if i < len(hist.paths)]
        theirs += ours[len(theirs):]  # the last tenth edited on both devices (other lines)
        edit_line(b.folder, theirs, 2, "edited on B:")
        t_b = timed([*GITSYNC, "sync", str(b.folder)], b.env)
        sandbox.run("git", "clone", "-q", "--bare", str(hub), str(hub_c), timeout=900)
        sandbox.git(c_dir, "remote", "set-url", "origin", str(hub_c))
        edit_line(a.folder, ours, 20, "edited on A:")
        edit_line(c_dir, ours, 20, "edited on A:")
        os.sync()
        t_a = timed([*GITSYNC, "sync", str(a.folder)], a.env)
        t_git = timed(["sh", "-c", "git add -A && git commit -q -m ours && git pull -q "
                       "--no-rebase --no-edit origin main && git push -q origin main"], env,
                      cwd=c_dir)
        same = a.head_tree() == sandbox.git(c_dir, "rev-parse", "HEAD^{tree}").strip()
        t0 = time.monotonic()
        b.sync(timeout=900)
        if not converged([a, b], hub):
            row.fail("A, B and the hub differ after the sync round and one round on B")
        row.convergence.append(time.monotonic() - t0)
        row.notes.append(
            f"sync round: B committed and pushed {len(theirs):,} changed files in "
            f"{t_b:.2f} s; A's `gitsync sync` committed its {len(ours):,} and merged B's "
            f"({len(ours) // 10} edited on both) in {t_a:.2f} s against `git add -A && git "
            f"commit && git pull --no-rebase && git push` {t_git:.2f} s on a copy "
            f"({t_a / t_git:.2f}x; target <= 1.0x; issue 10 measured 1.88x for the merge "
            f"alone); {'same tree as git' if same else 'a tree other than git'}")
        say(f"scale: sync round {t_a:.2f} s against git {t_git:.2f} s")

        # -- the soak: both daemons on default settings, a writer in A's big folder
        a.start(web=True, ready_timeout=600)
        b.start(web=True, ready_timeout=600)
        wrng = random.Random(rng.random())
        names = wrng.sample(hist.paths, 8) + [f"soak/note-{i}.txt" for i in range(4)]
        writer = Writer(a.folder, writer_log, wrng, names=names, hold=SETTLE + 1.5,
                        quick_gap=(0.05, 1.5), long_share=0.35)
        with sampling_rss([a, b], every, samples):
            writer.start()
            time.sleep(soak)
            writer.stop()
        took = wait_converged([a, b], hub, timeout=600)
        if took is None:
            row.fail("A, B and the hub did not converge within 600 s after the soak")
        else:
            row.convergence.append(took)
        for d in (a, b):
            if d.stop(timeout=300) != 0:
                row.fail(f"{d.name}: daemon exited non-zero on SIGTERM")
            row.add_rss(d.peak_rss_kb)
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        for d in (a, b):
            if d.running:
                d.kill()

    # -- memory
    for name, got in ((d.name, samples.get(d.name, [])) for d in (a, b)):
        if not got:
            continue
        kbs = [kb for _, kb in got]
        trend = rss_trend(got)
        row.notes.append(
            f"{name} over a {soak / 60:.0f}-minute soak ({len(got)} samples, every "
            f"{every:.0f} s): RSS {kbs[0] / 1024:.0f} -> {kbs[-1] / 1024:.0f} MB, peak "
            f"{max(kbs) / 1024:.0f} MB, trend {trend:+.1f} MiB/h over the second half")
        if memory_failed(kbs[0], kbs[-1], trend):
            row.fail(f"{name}: memory grows ({trend:+.1f} MiB/h, {kbs[0] / 1024:.0f} -> "
                     f"{kbs[-1] / 1024:.0f} MB)")

    # -- the invariants
    row.written = len(writer_log.versions)
    t0 = time.monotonic()
    check_invariants(row, sandbox, [Checked("A", a.folder, writer_log), Checked("B", b.folder)],
                     hub, SETTLE)
    t_fsck = time.monotonic() - t0
    for change in guard.changes():
        row.fail(f"written outside the folders: {change}")
    commits_now = sandbox.git(hub, "rev-list", "--count", "main").strip()
    row.notes.append(f"{commits_now} commits on the hub at the end; the end checks (fsck "
                     f"--full --strict of A, B and the hub, lost versions) took {t_fsck:.0f} s")
    if writer is not None and writer.errors:
        row.notes.append(f"{len(writer.errors)} writer operations met a file a sync had "
                         "just replaced (the writer retries, as an editor would)")
    shutil.rmtree(hub_c, ignore_errors=True)
    shutil.rmtree(c_dir, ignore_errors=True)
    return row
