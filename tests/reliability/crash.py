"""The crash suite: ``gitsync run`` killed with SIGKILL at seeded random moments, power
losses, a first snapshot cut part-way, and a disk that fills up during a commit.

Rows:

- **crash**: device A's daemon (``--debug``, ``--debounce 0.2``) is killed again and again
  while writers save files on A and on a second device B, whose daemon keeps pushing, so A
  has merges and disk updates to do. Each kill waits for a seeded random trigger line in
  A's debug log (a commit, an index write, a merge, a disk update, a fetch, a push) and a
  seeded random delay after it, then is classified by the last line A logged before it
  died. Every fifth kill is a power loss (:meth:`Device.kill` with ``everything=True``:
  the daemon and every git it started, frozen and killed). After each kill A restarts and
  is checked: no traceback, the locks the kill left are gone, a probe save is committed
  (no stale lock blocks the next write) and no owed version is lost; ``git fsck --full
  --strict`` runs on the killed repository every few kills and at the end. The bulk first
  snapshot is cut too: ``gitsync init`` of a folder of a few thousand files killed
  part-way (its whole process group) and run again, and the daemon's first import of a
  few thousand new files killed during its start-up scan; each retry must succeed with
  every file in history.
- **disk full**: a device whose folder, ``.git`` and gitsync home live on a small tmpfs
  that a filler fills while saves are being committed: the daemon must log a clear error
  (no traceback), stay up, leave nothing half-written, and commit and push the saves once
  the filler is deleted.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.reliability.harness import (
    GITSYNC,
    LOCK_FILES,
    Device,
    OutsideGuard,
    Row,
    Sandbox,
    Writer,
    WriterLog,
    blob_id,
    lost_versions,
    marker_files,
    repo_errors,
    wait_converged,
    wait_for,
)

DEBOUNCE = 0.2  # the killed daemons run fast; the default is 1 s
# A version is owed once on disk this long; the writers' hold exceeds it. Saves wait while
# the worker runs a round, and on a loaded 2-core machine a round of merges took over 2 s.
SETTLE = DEBOUNCE + 3.0
HOLD = 3.5
RUN_ARGS = ("--debounce", str(DEBOUNCE), "--poll", "0.5")

# What the killed daemon was doing, from the last line it logged (``--debug``).
PHASES: tuple[tuple[str, str], ...] = (
    ("change(s) found by scan", "first import (start-up scan)"),
    ("committing ", "commit"),
    ("saved meanwhile, committing first", "commit"),
    ("writing the index", "index write"),
    ("merging ", "merge"),
    ("updating the disk", "worktree update"),
    ("git push ", "push"),
    ("git fetch ", "fetch"),
    ("git ls-remote ", "remote poll"),
    ("starting (device", "start-up"),
    ("running; Ctrl-C", "start-up"),
)

# Lines a kill waits for (then a random delay), weighted so each phase gets kills.
TRIGGERS: tuple[tuple[str, float], ...] = (
    ("committing ", 0.25), ("writing the index", 0.12), ("merging ", 0.18),
    ("updating the disk", 0.15), ("git push ", 0.18), ("git fetch ", 0.07), ("", 0.05),
)
TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d ")


def classify(log_tail: str) -> str:
    """The phase a daemon was in when it died, from the last line it logged."""
    lines = [ln for ln in log_tail.splitlines() if ln.strip()]
    if not lines:
        return "start-up"
    last = TIMESTAMP.sub("", lines[-1])
    if " exit " in last and last.startswith("git "):
        return "between steps"  # a transfer had finished
    for needle, phase in PHASES:
        if needle in last:
            return phase
    return "between steps"


def tracebacks(text: str) -> list[str]:
    """Tracebacks and logging errors in a daemon's output (a user must never see one)."""
    return [ln for ln in text.splitlines() if "Traceback (most recent call last)" in ln
            or "--- Logging error ---" in ln]


def lock_files(gitdir: Path) -> dict[str, tuple[int, int]]:
    """The git lock files in GITDIR, each with its inode and mtime: a lock the next
    daemon takes for itself under the same name is another file."""
    names = [n for n in LOCK_FILES if (gitdir / n).exists()]
    refs = gitdir / "refs"
    if refs.is_dir():
        names += [str(p.relative_to(gitdir)) for p in refs.rglob("*.lock")]
    found = {}
    for n in names:
        with contextlib.suppress(OSError):
            st = (gitdir / n).stat()
            found[n] = (st.st_ino, st.st_mtime_ns)
    return found


def stale_left(gitdir: Path, left: dict[str, tuple[int, int]]) -> list[str]:
    """Locks a kill LEFT that are still the same files now."""
    now = lock_files(gitdir)
    return [n for n, ident in left.items() if now.get(n) == ident]


def wait_line(device: Device, mark: int, needle: str, timeout: float) -> bool:
    """Wait until DEVICE logs a line containing NEEDLE after offset MARK."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if needle in device.log_since(mark) or not device.running:
            return True
        time.sleep(0.002)
    return False


def committed_blob(sandbox: Sandbox, repo: Path, rel: str, ref: str = "HEAD") -> str | None:
    r = sandbox.run("git", "-C", str(repo), "rev-parse", "-q", "--verify", f"{ref}:{rel}",
                    check=False)
    return r.stdout.strip() or None


def probe(sandbox: Sandbox, device: Device, n: int, timeout: float = 20) -> bool:
    """Save a probe file and wait until it is committed: no stale lock blocks a write."""
    data = f"probe {n} {time.time()}\n".encode()
    (device.folder / "probe.txt").write_bytes(data)
    want = blob_id(data)
    return wait_for(lambda: committed_blob(sandbox, device.folder, "probe.txt") == want,
                    timeout, 0.03)


def spawn(device: Device, *args: str) -> None:
    """Start ``gitsync run`` like :meth:`Device.start` but without waiting for it, so it
    can be killed during its start-up scan."""
    fh = open(device.logfile, "ab")  # noqa: SIM115 - closed once the child has it
    device.proc = subprocess.Popen([*GITSYNC, "run", "--no-web", *args], stdout=fh,
                                   stderr=subprocess.STDOUT, env=device.env,
                                   start_new_session=True)
    fh.close()
    device.starts += 1


class Owed:
    """Runs invariant 1 after each restart and counts each lost version once."""

    def __init__(self, sandbox: Sandbox, row: Row) -> None:
        self.sandbox, self.row = sandbox, row
        self.lost: set[tuple[str, str]] = set()

    def check(self, log: WriterLog, folder: Path, when: str) -> int:
        n, lost = lost_versions(self.sandbox, log, folder, SETTLE)
        for v in lost:
            if (v.path, v.blob) not in self.lost:
                self.lost.add((v.path, v.blob))
                self.row.fail(f"{when}: lost {v.path} version {v.blob[:10]} "
                              f"(saved at {v.written:.1f}, replaced at {v.ended})")
        self.row.lost = len(self.lost)
        return n


# ---------------------------------------------------------------------------------------
# kill -9 cycles


def kill_cycles(sb: Sandbox, row: Row, rng: random.Random, kills: int, fsck_every: int,
                say: Callable[[str], None]) -> None:
    hub = sb.bare_hub()
    a, b = Device(sb, "A"), Device(sb, "B")
    a.init(hub)
    b.clone(hub)
    la, lb = WriterLog(sb.root / "writer-A.log"), WriterLog(sb.root / "writer-B.log")
    wa = Writer(a.folder, la, random.Random(rng.random()), hold=HOLD)
    # B saves more often, so A has merges and disk updates to do.
    wb = Writer(b.folder, lb, random.Random(rng.random()), hold=HOLD, long_share=0.1)
    owed = Owed(sb, row)
    phases: Counter[str] = Counter()
    left_locks: Counter[str] = Counter()
    power = fscks = 0
    spent: Counter[str] = Counter()
    guard = OutsideGuard(sb, [a.folder, b.folder, a.home, b.home, hub, la.path, lb.path])
    try:
        a.start("--debug", *RUN_ARGS)
        b.start(*RUN_ARGS)
        wa.start()
        wb.start()
        needles, weights = zip(*TRIGGERS, strict=True)
        for k in range(1, kills + 1):
            t_wait = time.monotonic()
            mark = a.log_size()
            needle = rng.choices(needles, weights)[0]
            if needle:
                wait_line(a, mark, needle, timeout=2.5)
                time.sleep(rng.uniform(0, 0.03) * rng.random())  # mostly within a few ms
            else:
                time.sleep(rng.uniform(0, 1.0))
            spent["waiting for the moment"] += time.monotonic() - t_wait
            everything = k % 5 == 0
            power += everything
            if not a.running:
                row.fail(f"kill {k}: A's daemon had exited by itself:\n"
                         f"{a.log_since(mark)[-2000:]}")
            if a.proc is not None:  # frozen at once; Device.kill looks for its children first
                with contextlib.suppress(ProcessLookupError):
                    os.kill(a.proc.pid, signal.SIGSTOP)
            a.kill(everything=everything)
            wa.pause()
            tail = a.log_since(mark)
            phases[classify(a.log_since(max(0, mark - 4000)))] += 1
            for tb in tracebacks(tail):
                row.fail(f"kill {k}: daemon output had {tb!r}")
            left = lock_files(a.gitdir)
            left_locks.update(left.keys())
            if k % fsck_every == 0:
                fscks += 1
                r = sb.run("git", "-C", str(a.folder), "fsck", "--full", "--strict",
                           "--no-progress", "--no-dangling", check=False)
                if r.returncode != 0:
                    row.fsck_errors += 1
                    row.fail(f"kill {k}: fsck after the kill: {(r.stdout + r.stderr)[:1500]}")
            t_start = time.monotonic()
            spent["kill and checks"] += t_start - t_wait
            mark = a.log_size()
            try:
                a.start("--debug", *RUN_ARGS)
            except RuntimeError as e:
                row.fail(f"kill {k}: restart failed: {e}")
                a.start("--debug", *RUN_ARGS)
            t_probe = time.monotonic()
            spent["restart"] += t_probe - t_start
            if not probe(sb, a, k):
                row.fail(f"kill {k}: a probe save was not committed within 20 s:\n"
                         f"{a.log_since(mark)[-2000:]}")
            for lock in stale_left(a.gitdir, left):
                row.fail(f"kill {k}: the {lock} the kill left is still there after the "
                         "restart and a committed save")
            owed.check(la, a.folder, f"kill {k}")
            spent["probe and owed versions"] += time.monotonic() - t_probe
            wa.resume()
            row.faults += 1
            if k % 25 == 0 or k == kills:
                say(f"crash: {k} kills, {len(row.failures)} failure(s) so far; "
                f"phases {dict(phases)}; seconds "
                f"{ {n: round(v) for n, v in spent.items()} }")
        wa.stop()
        wb.stop()
        t = wait_converged([a, b], hub, timeout=120)
        if t is None:
            row.fail("A and B did not converge within 120 s after the kills")
        else:
            row.convergence.append(t)
        a.sample_rss()
        b.sample_rss()
        for d in (a, b):
            code = d.stop()
            if code != 0:
                row.fail(f"{d.name}: daemon exited {code} on SIGTERM")
            for tb in tracebacks(d.log_since()):
                row.fail(f"{d.name}: daemon output had {tb!r}")
        row.checked += owed.check(la, a.folder, "end") + owed.check(lb, b.folder, "end B")
        row.written += len(la.versions) + len(lb.versions)
        for repo, bare in ((a.folder, False), (b.folder, False), (hub, True)):
            errs = repo_errors(sb, repo, bare=bare)
            row.fsck_errors += len(errs)
            for e in errs:
                row.fail(f"end: {e}")
        for d in (a, b):
            for m in marker_files(d.folder):
                row.fail(f"{d.name}: conflict markers in {m}")
        for ch in guard.changes():
            row.fail(f"written outside the folders: {ch}")
        logs = a.log_since() + b.log_since()
        row.conflicts_raised += logs.count("conflict in ")
        row.add_rss(max(a.peak_rss_kb, b.peak_rss_kb))
        row.notes.append(
            f"{kills} kills of A's daemon (--debounce {DEBOUNCE}, --poll 0.5, --debug) "
            f"while writers saved on A and B; {power} of them power losses (the daemon and "
            "every git it started, frozen and killed); by the last line A logged: "
            + ", ".join(f"{p} {n}" for p, n in phases.most_common()))
        row.notes.append(
            f"after each restart: no traceback, no lock left, a probe save committed, no owed "
            f"version lost (settle {SETTLE:.1f} s); git fsck --full --strict on the killed "
            f"repository after every {fsck_every}th kill ({fscks} runs) and on A, B and the "
            "hub at the end; locks the kills left (all removed by the restart): "
            + (", ".join(f"{n} {c}" for n, c in left_locks.most_common()) or "none"))
    finally:
        for w in (wa, wb):
            if w.is_alive():
                w.stop()
        for d in (a, b):
            if d.running:
                d.kill(everything=True)


# ---------------------------------------------------------------------------------------
# the bulk first snapshot, cut


def make_files(folder: Path, n: int, rng: random.Random) -> dict[str, str]:
    """N small files in a few subfolders; returns path -> blob id."""
    want = {}
    for i in range(n):
        rel = f"d{i % 17}/s{i % 5}/file-{i}.txt"
        data = f"file {i} {rng.random()}\n".encode() * (1 + i % 7)
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        want[rel] = blob_id(data)
    return want


def head_files(sb: Sandbox, repo: Path) -> dict[str, str]:
    out = sb.git(repo, "ls-tree", "-r", "HEAD", check=False)
    found = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        found[path] = meta.split()[2]
    return found


def missing(sb: Sandbox, repo: Path, want: dict[str, str]) -> list[str]:
    have = head_files(sb, repo)
    return [p for p, blob in want.items() if have.get(p) != blob]


def killpg(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGSTOP)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def snapshot_cuts(sb: Sandbox, row: Row, rng: random.Random, cuts: int, n_files: int,
                  say: Callable[[str], None]) -> None:
    template = sb.root / "bulk-template"
    want = make_files(template, n_files, rng)
    # One uncut init times the window the cuts land in.
    ref = Device(sb, "bulk-ref")
    shutil.copytree(template, ref.folder)
    hub = sb.bare_hub("bulk-ref.git")
    t0 = time.monotonic()
    ref.gitsync("init", str(ref.folder), "--remote", str(hub), "--device", "R")
    t_init = time.monotonic() - t0
    shutil.rmtree(ref.folder)
    shutil.rmtree(ref.home, ignore_errors=True)
    done = Counter[str]()
    for i in range(cuts):
        d = Device(sb, f"bulk-{i}")
        shutil.copytree(template, d.folder)
        # Half the cuts give a remote, half let init make its own hub in the home.
        args = ["init", str(d.folder), "--device", d.name]
        if i % 2 == 0:
            args += ["--remote", str(sb.bare_hub(f"bulk-{i}.git"))]
        proc = subprocess.Popen([*GITSYNC, *args], env=d.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.15, 0.8) * t_init)
        finished = proc.poll() is not None
        killpg(proc)
        row.faults += 1
        done["init finished before the cut" if finished else "init cut"] += 1
        r = d.gitsync(*args, check=False) if not finished else None
        if r is not None and r.returncode != 0 and "already a synced folder" in r.stderr:
            done["init had registered the folder before the cut"] += 1
        elif r is not None and r.returncode != 0:
            row.fail(f"init of {n_files} files cut at random, run again: exit "
                     f"{r.returncode}: {r.stderr.strip()[:500]}")
            continue
        gone = missing(sb, d.folder, want)
        if gone:
            row.lost += len(gone)
            row.fail(f"init cut and run again: {len(gone)} file(s) not in HEAD, e.g. {gone[:3]}")
        row.checked += len(want)
        row.written += len(want)
        errs = repo_errors(sb, d.folder)
        row.fsck_errors += len(errs)
        for e in errs:
            row.fail(f"init cut: {e}")
        # The daemon's first import of a few thousand new files, cut during its scan.
        more = make_files(d.folder / "more", n_files // 2, rng)
        more = {f"more/{p}": b for p, b in more.items()}
        mark = d.log_size()
        spawn(d, "--debug", *RUN_ARGS)
        wait_line(d, mark, "found by scan", timeout=30)
        time.sleep(rng.uniform(0, 0.3) * t_init)
        d.kill(everything=i % 2 == 1)
        row.faults += 1
        done[f"import killed after: {classify(d.log_since(mark))}"] += 1
        try:
            d.start(*RUN_ARGS)
        except RuntimeError as e:
            row.fail(f"first import cut: restart failed: {e}")
            continue
        finally:
            if d.running:
                d.stop()
        gone = missing(sb, d.folder, {**want, **more})
        row.checked += len(more)
        row.written += len(more)
        if gone:
            row.lost += len(gone)
            row.fail(f"first import cut: {len(gone)} file(s) not in HEAD, e.g. {gone[:3]}")
        errs = repo_errors(sb, d.folder)
        row.fsck_errors += len(errs)
        for e in errs:
            row.fail(f"first import cut: {e}")
        shutil.rmtree(d.folder, ignore_errors=True)
    shutil.rmtree(template, ignore_errors=True)
    row.notes.append(
        f"bulk first snapshot: {cuts} `gitsync init` runs of {n_files:,} files (uncut: "
        f"{t_init:.1f} s) killed with their process group at a random moment and run again, "
        f"then the daemon's first import of {n_files // 2:,} more files killed during its "
        "start-up scan and restarted; every file in HEAD each time ("
        + ", ".join(f"{k} {v}" for k, v in sorted(done.items())) + ")")
    say(f"crash: snapshot cuts done ({dict(done)})")


# ---------------------------------------------------------------------------------------
# disk full


def save_in_place(folder: Path, log: WriterLog, rng: random.Random, names: list[str]) -> None:
    """A save that needs no new disk block: same length, rewritten in place."""
    name = rng.choice(names)
    p = folder / name
    data = bytearray(p.read_bytes())
    for _ in range(3):
        i = rng.randrange(len(data))
        if data[i:i + 1] not in (b"\n", b" "):
            data[i] = ord(rng.choice("abcdefghijklmnopqrstuvwxyz"))
    fd = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes(data), 0)
    finally:
        os.close(fd)
    log.saved(name, bytes(data))


def fill(path: Path) -> int:
    """Write PATH until the filesystem is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as fh:
        while True:
            try:
                n += fh.write(chunk) or 0
            except OSError:
                break
    small = b"\0" * 512
    with open(path, "ab", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            n += fh.write(small) or 0
    return n


def disk_full(sb: Sandbox, row: Row, rng: random.Random, rounds: int,
              say: Callable[[str], None]) -> None:
    mnt = sb.root / "small-disk"
    mnt.mkdir()
    sb.run("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt))
    hub = sb.bare_hub("full-hub.git")
    d = Device(sb, "F")
    d.folder = mnt / "F"
    d.home = mnt / "gitsync-F"
    d.env = {**d.env, "GITSYNC_HOME": str(d.home)}
    log = WriterLog(sb.root / "writer-F.log")
    names = [f"doc-{i}.txt" for i in range(8)]
    files = {n: (" ".join(rng.choice(("alpha", "beta", "gamma", "delta")) for _ in range(40))
                 + "\n").encode() for n in names}
    filler = mnt / "filler.bin"
    recover: list[float] = []
    errors_seen: Counter[str] = Counter()
    try:
        d.init(hub, files)
        for n, data in files.items():
            log.saved(n, data)
        d.start(*RUN_ARGS)
        for r in range(1, rounds + 1):
            mark = d.log_size()
            # Saves are being committed when the disk fills up.
            for _ in range(3):
                save_in_place(d.folder, log, rng, names)
                time.sleep(rng.uniform(0.05, 0.3))
            fill(filler)
            row.faults += 1
            # Saves while full: the folder's files are rewritten in place (no new block).
            for _ in range(6):
                save_in_place(d.folder, log, rng, names)
                time.sleep(rng.uniform(0.2, 0.5))
            time.sleep(SETTLE)
            full_log = d.log_since(mark)
            if not d.running:
                row.fail(f"disk full, round {r}: the daemon exited:\n{full_log[-2000:]}")
                break
            for tb in tracebacks(full_log):
                row.fail(f"disk full, round {r}: daemon output had {tb!r}")
            said = [ln for ln in full_log.splitlines() if "space" in ln.lower()]
            if not said:
                row.fail(f"disk full, round {r}: no line in the log says the disk is full:\n"
                         f"{full_log[-2000:]}")
            for ln in said[:1]:
                errors_seen[TIMESTAMP.sub("", ln)[:160]] += 1
            # Nothing half-written while full: HEAD resolves, fsck is clean.
            f = sb.run("git", "-C", str(d.folder), "fsck", "--full", "--strict",
                       "--no-progress", "--no-dangling", check=False)
            if f.returncode != 0:
                row.fsck_errors += 1
                row.fail(f"disk full, round {r}: fsck while full: {(f.stdout + f.stderr)[:1500]}")
            if d.head_tree() is None:
                row.fail(f"disk full, round {r}: HEAD does not resolve while full")
            filler.unlink()
            t0 = time.monotonic()

            def caught_up() -> bool:
                head = d.head_tree()
                return (head is not None and d.worktree_clean()
                        and sb.git(hub, "rev-parse", "main^{tree}", check=False).strip() == head)

            if wait_for(caught_up, 60, 0.1):
                recover.append(time.monotonic() - t0)
            else:
                row.fail(f"disk full, round {r}: the saves were not committed and pushed "
                         f"within 60 s of space coming back:\n{d.log_since(mark)[-2000:]}")
            if rng.random() < 0.5:
                d.kill()
                d.start(*RUN_ARGS)
        if d.running and d.stop() != 0:
            row.fail("disk full: daemon exited non-zero on SIGTERM")
        row.convergence.extend(recover)
        row.add_rss(d.peak_rss_kb)
        n, lost = lost_versions(sb, log, d.folder, SETTLE)
        row.checked += n
        row.written += len(log.versions)
        row.lost += len(lost)
        for v in lost:
            row.fail(f"disk full: lost {v.path} version {v.blob[:10]}")
        for repo, bare in ((d.folder, False), (hub, True)):
            errs = repo_errors(sb, repo, bare=bare)
            row.fsck_errors += len(errs)
            for e in errs:
                row.fail(f"disk full: {e}")
        row.notes.append(
            f"{rounds} times a 24 MB tmpfs holding the folder, its .git and the gitsync home "
            "filled up while saves were committed, then 6 more saves made in place; the "
            "daemon stayed up and logged: "
            + "; ".join(f"'{e}' x{c}" for e, c in errors_seen.most_common(2))
            + f". Once the filler was deleted the saves were committed and pushed in "
            f"{max(recover, default=0):.1f} s at most")
    finally:
        if d.running:
            d.kill(everything=True)
        with contextlib.suppress(OSError):
            filler.unlink()
        sb.run("umount", "-l", str(mnt), check=False)


# ---------------------------------------------------------------------------------------


def run(root: Path, *, quick: bool, seed: int, say: Callable[[str], None]) -> list[Row]:
    rng = random.Random(seed)
    crash = Row("crash")
    full = Row("disk full")
    sb = Sandbox(root / "kills")
    kills = 30 if quick else 500
    say(f"crash: {kills} kill -9 cycles")
    kill_cycles(sb, crash, rng, kills, fsck_every=5 if quick else 20, say=say)
    say("crash: cutting bulk first snapshots")
    snapshot_cuts(Sandbox(root / "bulk"), crash, rng, cuts=2 if quick else 8,
                  n_files=2000 if quick else 4000, say=say)
    say("crash: filling the disk")
    disk_full(Sandbox(root / "full"), full, rng, rounds=2 if quick else 6, say=say)
    return [crash, full]
