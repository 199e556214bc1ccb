"""What every reliability suite shares: a sealed sandbox, devices running the real
``gitsync run``, writers that log every version they save, and the four invariants.

A suite builds a :class:`Sandbox`, makes devices in it (each its own GITSYNC_HOME and folder,
as separate machines would have), starts their daemons as separate processes, lets
:class:`Writer` threads save files while it injects faults, and then checks:

1. every version a writer saved that stayed on disk long enough is in the device's history
   or on its disk (:func:`lost_versions`, against the writer's own log, by blob hash);
2. ``git fsck --full --strict`` is clean in every copy and the hub, HEAD resolves, and no
   lock file is left behind (:func:`repo_errors`);
3. all devices converge on one tree (:func:`wait_converged`);
4. no conflict markers in user files, nothing written outside the folders
   (:func:`marker_files`, :class:`OutsideGuard`).

The outcome of a suite is one :class:`Row` of the table ``scripts/reliability.sh`` prints.
Everything runs against the real git CLI and real processes; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GITSYNC = [sys.executable, "-m", "gitsync.cli"]
DEFAULT_DEBOUNCE = 1.0  # `gitsync run`'s default
# A version on disk this long under default settings was the file long enough to be owed
# (the soak and scale suites; crash and network run with other settings and set their own).
SETTLE = DEFAULT_DEBOUNCE + 2.0
GROWTH_LIMIT = 20.0  # MiB per hour over the second half of a soak, per daemon
GROWTH_SHARE = 1.2  # ... and the last sample this much above the first


# ---------------------------------------------------------------------------------------
# the table


@dataclass
class Row:
    """One suite's figures. ``failures`` lists every broken invariant in words; a suite
    with any failure makes the whole run exit non-zero."""

    suite: str
    faults: int = 0
    written: int = 0  # versions the writers saved
    checked: int = 0  # of those, versions that stayed on disk long enough to be owed
    lost: int = 0
    fsck_errors: int = 0
    conflicts_raised: int = 0
    conflicts_resolved: int = 0
    convergence: list[float] = field(default_factory=list)  # seconds, one per scenario
    peak_rss_kb: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def add_rss(self, kb: int) -> None:
        self.peak_rss_kb = max(self.peak_rss_kb, kb)

    def to_json(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


# ---------------------------------------------------------------------------------------
# the sandbox and its devices


class Sandbox:
    """A directory holding everything a scenario touches, and the sealed environment every
    process runs in: its own HOME and git config, a fixed author, no user ssh settings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        home = root / "home"
        home.mkdir(exist_ok=True)
        (home / ".gitconfig").write_text(
            "[init]\n\tdefaultBranch = main\n[safe]\n\tdirectory = *\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITSYNC_"))}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.update({
            "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_AUTHOR_NAME": "Reliability", "GIT_AUTHOR_EMAIL": "r@example.invalid",
            "GIT_COMMITTER_NAME": "Reliability", "GIT_COMMITTER_EMAIL": "r@example.invalid",
            "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
        })
        self.env = env

    def run(self, *cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(list(cmd), cwd=cwd, env=env or self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def git(self, repo: Path, *args: str, check: bool = True, timeout: float = 120) -> str:
        return self.run("git", "-C", str(repo), *args, check=check, timeout=timeout).stdout

    def bare_hub(self, name: str = "hub.git") -> Path:
        hub = self.root / name
        self.run("git", "init", "-q", "--bare", "-b", "main", str(hub))
        return hub


class Device:
    """One machine: a GITSYNC_HOME, a synced folder, and its ``gitsync run`` process.

    The daemon runs in its own session (process group), so a suite can kill the daemon
    alone (SIGKILL to its pid) or everything it started (SIGKILL to the group, the nearest
    thing to pulling the plug that a test can do)."""

    def __init__(self, sandbox: Sandbox, name: str) -> None:
        self.sandbox = sandbox
        self.name = name
        self.home = sandbox.root / f"gitsync-{name}"
        self.folder = sandbox.root / name
        self.logfile = sandbox.root / f"daemon-{name}.log"
        self.env = {**sandbox.env, "GITSYNC_HOME": str(self.home)}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.peak_rss_kb = 0
        self.port = 0
        self._orphans: list[int] = []

    # setting up

    def gitsync(self, *args: str, timeout: float = 300, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
        return self.sandbox.run(*GITSYNC, *args, env=self.env, timeout=timeout, check=check)

    def init(self, remote: Path | str | None = None,
             files: dict[str, bytes] | None = None) -> None:
        """Register the folder (with FILES in it, default one README) and push its first
        commit, so other devices can clone it."""
        self.folder.mkdir(exist_ok=True)
        for rel, data in (files if files is not None else {"README.txt": b"shared\n"}).items():
            (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / rel).write_bytes(data)
        args = ["init", str(self.folder), "--device", self.name]
        if remote is not None:
            args += ["--remote", str(remote)]
        self.gitsync(*args)
        self.sync()

    def clone(self, remote: Path | str) -> None:
        self.gitsync("clone", str(remote), str(self.folder), "--device", self.name)

    @property
    def gitdir(self) -> Path:
        return self.folder / ".git"

    # the daemon

    def start(self, *args: str, web: bool = False, ready_timeout: float = 60) -> None:
        """Start ``gitsync run --no-web ARGS`` and wait until every folder is watched.
        WEB: with its web server (on a free port, so several devices can run), as the
        daemon runs by default."""
        assert self.proc is None or self.proc.poll() is not None, "daemon already running"
        mark = self.log_size()
        fh = open(self.logfile, "ab")  # noqa: SIM115 - closed when the process is reaped
        if web:
            self.port = free_port()
        pages = ["--port", str(self.port)] if web else ["--no-web"]
        self.proc = subprocess.Popen([*GITSYNC, "run", *pages, *args], stdout=fh,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)
        fh.close()
        self.starts += 1
        if not wait_for(lambda: "watching" in self.log_since(mark) or not self.running,
                        ready_timeout):
            raise RuntimeError(f"{self.name}: daemon not watching after {ready_timeout}s:\n"
                               f"{self.log_since(mark)[-3000:]}")
        if not self.running:
            raise RuntimeError(f"{self.name}: daemon exited:\n{self.log_since(mark)[-3000:]}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, everything: bool = False) -> None:
        """SIGKILL the daemon. EVERYTHING: the daemon and every process it started (git
        runs in sessions of its own), frozen first so none of them writes another byte:
        the nearest thing to pulling the plug a test can do. Without it, the git processes
        the daemon started finish on their own, as they would on a real machine."""
        if self.proc is None:
            return
        self.sample_rss()
        kids = descendants(self.proc.pid)
        if everything:
            for pid in [self.proc.pid, *kids]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            kids = descendants(self.proc.pid) or kids
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        if everything:
            for pid in kids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)
        self._orphans = kids
        self.wait_orphans()

    def wait_orphans(self, timeout: float = 60) -> None:
        """Wait until the processes the last daemon left behind have finished."""
        wait_for(lambda: not any(_alive(p) for p in self._orphans), timeout, 0.05)
        for pid in self._orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._orphans = []

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait, as a logout does; returns the exit status."""
        if self.proc is None:
            return 0
        self.sample_rss()
        self._orphans = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            raise RuntimeError(f"{self.name}: daemon ignored SIGTERM for {timeout}s") from None
        self.wait_orphans()
        return code

    def rss_kb(self) -> int:
        """The daemon's resident set now (0 when not running)."""
        return status_kb(self.proc.pid, "VmRSS") if self.running and self.proc else 0

    def sample_rss(self) -> int:
        if self.running and self.proc:
            self.peak_rss_kb = max(self.peak_rss_kb, status_kb(self.proc.pid, "VmHWM"))
        return self.rss_kb()

    # reading the log

    def log_size(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_since(self, offset: int = 0) -> str:
        if not self.logfile.exists():
            return ""
        with open(self.logfile, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    # the repository

    def sync(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """One round (`gitsync sync`): through the daemon when it runs, else by itself.
        Exit 1 means conflicts are left for the user, which is not a failure here."""
        r = self.gitsync("sync", str(self.folder), timeout=timeout, check=False)
        if r.returncode not in (0, 1):
            raise RuntimeError(f"{self.name}: gitsync sync exited {r.returncode}: "
                               f"{r.stderr.strip()}")
        return r

    def head_tree(self) -> str | None:
        r = self.sandbox.run("git", "-C", str(self.folder), "rev-parse", "-q", "--verify",
                             "HEAD^{tree}", check=False)
        return r.stdout.strip() or None

    def worktree_clean(self) -> bool:
        out = self.sandbox.git(self.folder, "status", "--porcelain", "--untracked-files=all",
                               check=False)
        return out.strip() == ""

    def conflicts(self) -> list[dict[str, object]]:
        """Open conflict records, as ``gitsync conflicts --json`` lists them."""
        r = self.gitsync("conflicts", str(self.folder), "--json", check=False)
        if r.returncode not in (0, 1) or not r.stdout.strip():
            return []
        found: list[dict[str, object]] = []
        for folder in json.loads(r.stdout).get("folders", []):
            found.extend(folder.get("conflicts", []))
        return found


def wait_for(pred: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    # Not tests.helpers' twin: that module imports gitsync, and the hostile suite's merge
    # workers import this one (one process per case: every import counts).
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kb(pid: int, key: str) -> int:
    """A KiB figure of /proc/PID/status (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def descendants(pid: int) -> list[int]:
    """Every live process below PID, whatever session it runs in."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for kid in children.get(todo.pop(), []):
            found.append(kid)
            todo.append(kid)
    return found


# ---------------------------------------------------------------------------------------
# writers and their logs


def blob_id(data: bytes) -> str:
    """The id git gives DATA as a blob (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Version:
    path: str  # relative to the folder
    blob: str
    written: float  # time.monotonic() when the save finished
    ended: float | None = None  # when the writer replaced, renamed away or deleted it


class WriterLog:
    """Every version a writer saved, with when it stopped being the file on disk. Kept in
    memory and appended to a JSON-lines file, so a failed run can be read afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.versions: list[Version] = []
        self.last_write = 0.0  # time.monotonic() of the writer's last change to the folder
        self._current: dict[str, Version] = {}
        self._lock = threading.Lock()

    def saved(self, rel: str, data: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            self._end(rel, now)
            v = Version(rel, blob_id(data), now)
            self.versions.append(v)
            self._current[rel] = v
            self._append({"op": "save", "path": rel, "blob": v.blob, "t": now})

    def gone(self, rel: str) -> None:
        """REL was deleted or renamed away by the writer."""
        now = time.monotonic()
        with self._lock:
            self._end(rel, now)
            self._append({"op": "gone", "path": rel, "t": now})

    def _end(self, rel: str, now: float) -> None:
        self.last_write = now
        old = self._current.pop(rel, None)
        if old is not None:
            old.ended = now

    def _append(self, entry: dict[str, object]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def owed(self, settle: float, now: float | None = None) -> list[Version]:
        """Versions that were the file on disk for at least SETTLE seconds: these must be
        kept. The newest version of each file is owed too once SETTLE has passed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [v for v in self.versions if (v.ended or now) - v.written >= settle]


TEXT_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
              "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau",
              "upsilon", "phi", "chi", "psi", "omega")


class Writer(threading.Thread):
    """Saves files in FOLDER at random: new text files, edits of existing ones (a line
    changed, added or removed), renames and deletes, some through a temp file renamed over
    the original as LibreOffice and many editors save. Each save is logged before the next
    one starts. Lifetimes are bimodal: most versions are replaced quickly (they may
    legitimately be folded into one commit) and some are left alone for longer than
    ``hold`` seconds (these are owed).

    ``pause()`` blocks the writer between two operations (``paused`` is set once it
    stopped); ``resume()`` lets it go on. ``files`` limits the names it uses, so writers on
    several devices can edit the same files.
    """

    def __init__(self, folder: Path, log: WriterLog, rng: random.Random, *,
                 names: Iterable[str] | None = None, hold: float = 3.0,
                 quick_gap: tuple[float, float] = (0.02, 0.3), long_share: float = 0.3,
                 docx: Callable[[random.Random, bytes | None], bytes] | None = None,
                 subdirs: int = 3) -> None:
        super().__init__(name=f"writer-{folder.name}", daemon=True)
        self.folder = folder
        self.log = log
        self.rng = rng
        self.names = list(names) if names is not None else [
            f"{'' if i % (subdirs + 1) == 0 else f'd{i % (subdirs + 1)}/'}note-{i}.txt"
            for i in range(12)]
        self.hold = hold
        self.quick_gap = quick_gap
        self.long_share = long_share
        self.docx = docx
        self.ops = 0
        self.errors: list[str] = []
        self._go = threading.Event()
        self._go.set()
        self._wake = threading.Event()  # cuts a gap short when paused or stopped
        self.paused = threading.Event()
        self._stopping = threading.Event()

    # control

    def pause(self, timeout: float = 30) -> None:
        self._go.clear()
        self._wake.set()
        if self.is_alive() and not self.paused.wait(timeout):
            raise RuntimeError(f"{self.name} did not pause")

    def resume(self) -> None:
        self.paused.clear()
        self._go.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._go.set()
        self.join(30)

    def run(self) -> None:
        while not self._stopping.is_set():
            if not self._go.is_set():
                self.paused.set()
                self._go.wait()
                self._wake.clear()
                continue
            try:
                self.step()
            except OSError as e:  # a folder being replaced under us by a sync: retry
                self.errors.append(f"{type(e).__name__}: {e}")
            self.ops += 1
            gap = (self.rng.uniform(self.hold, self.hold * 1.5)
                   if self.rng.random() < self.long_share else self.rng.uniform(*self.quick_gap))
            self._wake.wait(gap)
        self.paused.set()

    # one operation

    def step(self) -> None:
        existing = [n for n in self.all_names() if (self.folder / n).is_file()]
        roll = self.rng.random()
        if existing and roll < 0.06:
            self.delete(self.rng.choice(existing))
        elif existing and roll < 0.12:
            self.rename(self.rng.choice(existing))
        else:
            name = self.rng.choice(self.all_names())
            self.save(name, self.next_content(name), temp=self.rng.random() < 0.3)

    def all_names(self) -> list[str]:
        return self.names + ([n[:-4] + ".docx" for n in self.names[:3]] if self.docx else [])

    def next_content(self, name: str) -> bytes:
        path = self.folder / name
        try:
            old = path.read_bytes()
        except OSError:
            old = None
        if name.endswith(".docx") and self.docx is not None:
            return self.docx(self.rng, old)
        lines = old.decode(errors="replace").splitlines() if old else []
        word = " ".join(self.rng.choice(TEXT_WORDS) for _ in range(6))
        roll = self.rng.random()
        if lines and roll < 0.4:
            lines[self.rng.randrange(len(lines))] = word
        elif lines and roll < 0.5:
            del lines[self.rng.randrange(len(lines))]
        else:
            lines.insert(self.rng.randint(0, len(lines)), word)
        return ("\n".join(lines) + "\n").encode()

    def save(self, name: str, data: bytes, temp: bool) -> None:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if temp:  # LibreOffice: write lu<random>.tmp beside it, then rename over
            tmp = path.parent / f"lu{self.rng.randrange(10**8)}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, path)
        else:
            with open(path, "wb") as fh:
                fh.write(data)
        self.log.saved(name, data)

    def delete(self, name: str) -> None:
        (self.folder / name).unlink()
        self.log.gone(name)

    def rename(self, name: str) -> None:
        others = [n for n in self.all_names()
                  if n != name and n.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]
                  and not (self.folder / n).exists()]
        if not others:
            return
        target = self.rng.choice(others)
        (self.folder / target).parent.mkdir(parents=True, exist_ok=True)
        data = (self.folder / name).read_bytes()
        os.rename(self.folder / name, self.folder / target)
        self.log.gone(name)
        self.log.saved(target, data)


# ---------------------------------------------------------------------------------------
# the invariants


def history_blobs(sandbox: Sandbox, repo: Path) -> set[str]:
    """Every blob reachable from any ref of REPO: the folder's whole history."""
    out = sandbox.git(repo, "rev-list", "--objects", "--all", timeout=600)
    return {line.split(" ", 1)[0] for line in out.splitlines() if line}


def disk_blobs(folder: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames:
            with contextlib.suppress(OSError):
                found.add(blob_id(Path(dirpath, name).read_bytes()))
    return found


def lost_versions(sandbox: Sandbox, log: WriterLog, folder: Path, settle: float
                  ) -> tuple[int, list[Version]]:
    """Invariant 1 for one writer: (versions owed, versions owed but neither in the
    folder's history nor on its disk)."""
    owed = log.owed(settle)
    have = history_blobs(sandbox, folder) | disk_blobs(folder)
    return len(owed), [v for v in owed if v.blob not in have]


LOCK_FILES = ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock")


def repo_errors(sandbox: Sandbox, repo: Path, bare: bool = False) -> list[str]:
    """Invariant 2 for one repository: fsck's complaints, an unresolvable HEAD, and lock
    files left behind (call with its daemon stopped: a running one may hold a lock)."""
    gitdir = repo if bare else repo / ".git"
    errors = []
    r = sandbox.run("git", "-C", str(repo), "fsck", "--full", "--strict", "--no-progress",
                    "--no-dangling", check=False, timeout=900)
    if r.returncode != 0:
        errors.append(f"{repo}: git fsck: {(r.stdout + r.stderr).strip()[:2000]}")
    head = sandbox.run("git", "-C", str(repo), "rev-parse", "-q", "--verify", "HEAD^{commit}",
                       check=False)
    if head.returncode != 0:
        errors.append(f"{repo}: HEAD does not resolve")
    for name in LOCK_FILES:
        if (gitdir / name).exists():
            errors.append(f"{repo}: stale {name}")
    refs = gitdir / "refs"
    if refs.is_dir():
        errors.extend(f"{repo}: stale {p.relative_to(gitdir)}" for p in refs.rglob("*.lock"))
    return errors


@dataclass
class Checked:
    """One working copy for :func:`check_invariants`: its name, its folder and the log of
    the writer that saved into it (None: nobody wrote there, nothing is owed)."""

    name: str
    folder: Path
    log: WriterLog | None = None


def check_invariants(row: Row, sandbox: Sandbox, copies: Iterable[Checked], hub: Path,
                     settle: float, *, fsck_copies: bool = True,
                     reported: set[tuple[str, str]] | None = None) -> None:
    """Invariants 1, 2 and 4a at the end of a scenario, counted into ROW: versions owed and
    lost per writer, fsck and locks of every copy (FSCK_COPIES) and of the hub, conflict
    markers. Call with the daemons stopped. REPORTED: losses already reported by an earlier
    check (each is reported once; the set is updated)."""
    seen = reported if reported is not None else set()
    for c in copies:
        if c.log is not None:
            owed, lost = lost_versions(sandbox, c.log, c.folder, settle)
            row.checked += owed
            row.lost += len(lost)
            for v in [v for v in lost if (c.name, v.blob) not in seen][:5]:
                seen.add((c.name, v.blob))
                row.fail(f"{c.name}: lost {v.path} ({v.blob[:10]}), on disk "
                         f"{(v.ended or time.monotonic()) - v.written:.1f} s")
        if fsck_copies:
            errors = repo_errors(sandbox, c.folder)
            row.fsck_errors += len(errors)
            for e in errors:
                row.fail(e)
        for path in marker_files(c.folder)[:5]:
            row.fail(f"{c.name}: conflict markers in {path}")
    hub_errors = repo_errors(sandbox, hub, bare=True)
    row.fsck_errors += len(hub_errors)
    for e in hub_errors:
        row.fail(e)


def memory_failed(first_kb: int, last_kb: int, trend: float) -> bool:
    """A clear upward trend: the slope over the second half above GROWTH_LIMIT MiB/h and
    the last sample GROWTH_SHARE above the first."""
    return trend > GROWTH_LIMIT and last_kb > first_kb * GROWTH_SHARE


def trees(devices: list[Device]) -> dict[str, str | None]:
    return {d.name: d.head_tree() for d in devices}


def converged(devices: list[Device], hub: Path | None = None) -> bool:
    """Invariant 3: every device's HEAD has one tree, which its disk matches, and the hub's
    branch has it too. (Conflict records are files in that tree, so a difference a conflict
    explains is part of it on every device.)"""
    seen = set(trees(devices).values())
    if len(seen) != 1 or None in seen:
        return False
    if hub is not None:
        tip = devices[0].sandbox.run("git", "-C", str(hub), "rev-parse", "-q", "--verify",
                                     "main^{tree}", check=False).stdout.strip()
        if tip not in seen:
            return False
    return all(d.worktree_clean() for d in devices)


def wait_converged(devices: list[Device], hub: Path | None = None, timeout: float = 120,
                   nudge: float = 10.0) -> float | None:
    """Seconds until the devices converge (None if not within TIMEOUT). Devices whose
    daemon is not running get a ``gitsync sync`` every NUDGE seconds; running daemons are
    left to do it themselves, as they would for a user."""
    start = time.monotonic()
    next_nudge = start
    while time.monotonic() - start < timeout:
        if converged(devices, hub):
            return time.monotonic() - start
        if time.monotonic() >= next_nudge:
            for d in devices:
                if not d.running:
                    d.sync()
            next_nudge = time.monotonic() + nudge
        time.sleep(0.2)
    return None


def conflict_records(sandbox: Sandbox, hub: Path, flag: str) -> int:
    """Conflict records added (FLAG "A") or deleted ("D") in the hub's history."""
    # -m: a record usually arrives in a merge commit, whose diff git log hides by default
    out = sandbox.git(hub, "log", "main", "-m", f"--diff-filter={flag}", "--name-only",
                      "--format=", "--", ".gitsync/conflicts/")
    return len({line for line in out.splitlines() if line.endswith(".json")})


MARKER = re.compile(rb"^(<{7}|>{7}|={7})( |$)", re.M)


def marker_files(folder: Path) -> list[str]:
    """Invariant 4a: user files holding git conflict markers."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames:
            p = Path(dirpath, name)
            with contextlib.suppress(OSError):
                if MARKER.search(p.read_bytes()):
                    bad.append(str(p.relative_to(folder)))
    return bad


class OutsideGuard:
    """Invariant 4b: nothing written outside the folders. Snapshots the sandbox (without
    the folders, the gitsync homes, hubs and logs, which gitsync and the harness own) and
    the given extra directories, and reports what changed since."""

    def __init__(self, sandbox: Sandbox, owned: Iterable[Path], extra: Iterable[Path] = ()
                 ) -> None:
        self.sandbox = sandbox
        self.owned = {p.resolve() for p in owned}
        self.extra = list(extra)
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        snap: dict[str, tuple[int, int]] = {}
        for top in [self.sandbox.root, *self.extra]:
            for dirpath, dirnames, filenames in os.walk(top):
                here = Path(dirpath)
                dirnames[:] = [d for d in dirnames if (here / d).resolve() not in self.owned]
                for name in filenames:
                    p = here / name
                    if p.resolve() in self.owned or p.name.startswith("daemon-"):
                        continue
                    with contextlib.suppress(OSError):
                        st = p.stat()
                        snap[str(p)] = (st.st_size, st.st_mtime_ns)
        return snap

    def changes(self) -> list[str]:
        after = self._snapshot()
        return sorted(p for p in set(after) | set(self.before)
                      if after.get(p) != self.before.get(p))


# ---------------------------------------------------------------------------------------
# memory over time


def rss_trend(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over the second half of SAMPLES (seconds, KiB), in MiB
    per hour: the first half is warm-up (caches filling, the first merges)."""
    half = samples[len(samples) // 2:]
    if len(half) < 3:
        return 0.0
    xs = [t for t, _ in half]
    ys = [kb / 1024 for _, kb in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)
                                    ) / den * 3600


@contextlib.contextmanager
def sampling_rss(devices: list[Device], every: float,
                 into: dict[str, list[tuple[float, int]]]) -> Iterator[None]:
    """Sample each device's daemon RSS (KiB) every EVERY seconds into INTO[device name]."""
    stop = threading.Event()
    t0 = time.monotonic()

    def loop() -> None:
        while not stop.wait(every):
            for d in devices:
                kb = d.sample_rss()
                if kb:
                    into.setdefault(d.name, []).append((time.monotonic() - t0, kb))

    t = threading.Thread(target=loop, name="rss", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)
