"""Keeping a folder's object store packed, off the hot path, and saying how big history is.

Every save writes a few loose objects (one file each under ``.git/objects/``); git itself
packs them once more than ``gc.auto`` (6,700) pile up, from ``git commit``. gitsync commits
through libgit2, which never does, so a busy folder would end up with hundreds of thousands
of loose files. The folder's worker asks :class:`Upkeep` to look whenever it is idle, and
it does what ``git gc --auto`` does, with the same thresholds read from the same config:

* The check is git's own estimate: the loose objects in ``objects/17`` times 256 against
  ``gc.auto`` (0 turns upkeep off), and the local packs without a ``.keep`` against
  ``gc.autoPackLimit`` (50). It reads one directory and runs no git process until the
  config is read, and it runs at most every :data:`CHECK_EVERY_S`.
* The packing is ``git gc --auto`` itself, in its own low-priority process (``nice``,
  ``ionice``) on a thread of its own: the worker keeps committing meanwhile. Configured so
  that it takes no lock the worker or a user's git needs: ``gc`` never takes ``index.lock``,
  and ``pack-refs`` and ``reflog expire`` (the only steps that lock refs) are switched off.
  It never rewrites history, keeps every reachable object and git's prune expiry (loose
  unreachable objects younger than two weeks stay, for a git command that may still need
  them), and takes ``gc.pid`` so it never runs beside another gc.
* It does not start while a user's git command holds a lock in the repository
  (``index.lock``, ``HEAD.lock``, ref locks, ``gc.pid`` of a live gc, ``maintenance.lock``);
  it looks again :data:`BUSY_RETRY_S` later. A daemon that stops stops its gc; an
  interrupted gc leaves only temporary files the next one clears.

:func:`history_size` reads the figures ``status`` shows (versions, bytes on disk, packs,
loose objects) without a walk of the whole history on each call: the count of versions is
cached per head and extended by the commits since.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitsync.errors import GitsyncError
from gitsync.fsutil import atomic_write
from gitsync.gitlocks import find_locks, is_stale
from gitsync.gitproc import GitStopped, run_git

logger = logging.getLogger(__name__)

GC_AUTO_DEFAULT = 6700  # git's default gc.auto
PACK_LIMIT_DEFAULT = 50  # git's default gc.autoPackLimit
CHECK_EVERY_S = 300.0  # between two looks at the store of one folder
SETTLE_S = 2.0  # idle this long before looking (not in the middle of a burst of saves)
BUSY_RETRY_S = 10.0  # a user's git held a lock: look again this soon
# Still due right after a gc: the loose objects are unreachable ones younger than git's prune
# expiry (two weeks), which no gc may remove yet; git itself waits a day (gc.log) then.
STILL_DUE_WAIT_S = 24 * 3600.0
GC_SILENCE_S = 3600.0  # ``gc --quiet`` prints nothing until it is done

# No detaching (the thread waits for gc, and stops it with the daemon); no step that locks
# the refs the worker moves on every save.
_GC = ("-c", "gc.autoDetach=false", "-c", "gc.packRefs=false",
       "-c", "gc.reflogExpire=never", "-c", "gc.reflogExpireUnreachable=never",
       "gc", "--auto", "--quiet")
_HEX = "0123456789abcdef"
_STAT_ALL_UP_TO = 5000  # loose objects; above it their size is estimated from a sample


# ----------------------------------------------------------------------------- the figures
@dataclass(frozen=True)
class Thresholds:
    """``gc.auto`` and ``gc.autoPackLimit`` as git reads them (0 or less: off)."""

    loose: int = GC_AUTO_DEFAULT
    packs: int = PACK_LIMIT_DEFAULT


@dataclass(frozen=True)
class StoreSize:
    """What the object store holds on disk (bytes are allocated blocks, as ``du`` counts)."""

    loose_objects: int
    loose_bytes: int
    packs: int
    packed_objects: int
    pack_bytes: int

    @property
    def disk_bytes(self) -> int:
        return self.loose_bytes + self.pack_bytes


@dataclass(frozen=True)
class HistorySize:
    """How big a folder's history is: what ``status`` shows."""

    versions: int
    store: StoreSize

    def to_json(self) -> dict[str, int]:
        s = self.store
        return {"versions": self.versions, "disk_bytes": s.disk_bytes,
                "packs": s.packs, "packed_objects": s.packed_objects,
                "loose_objects": s.loose_objects, "loose_bytes": s.loose_bytes,
                "pack_bytes": s.pack_bytes}

    def describe(self) -> str:
        return describe_history(self.to_json())


def describe_history(figures: Mapping[str, int]) -> str:
    """``1,234 versions, 45.1 MB on disk (3 packs, 120 loose objects)``, from the figures of
    :meth:`HistorySize.to_json` (as ``status --json`` has them)."""
    return (f"{_count(figures['versions'], 'version')},"
            f" {human_bytes(figures['disk_bytes'])} on disk"
            f" ({_count(figures['packs'], 'pack')},"
            f" {_count(figures['loose_objects'], 'loose object')})")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n:,} bytes"  # pragma: no cover - the loop always returns


def _is_object_name(name: str, length: int = 38) -> bool:
    return len(name) == length and not name.strip(_HEX)


def _on_disk(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def _loose_names(objects: Path) -> list[tuple[str, list[str]]]:
    """The loose objects' file names, per directory: names only (no stat, no path built per
    file, which would cost a third of a second on 100,000 files)."""
    found: list[tuple[str, list[str]]] = []
    try:
        dirs = [d.path for d in os.scandir(objects) if _is_object_name(d.name, 2)]
    except FileNotFoundError:
        return found
    for d in dirs:
        try:
            found.append((d, [n for n in os.listdir(d) if _is_object_name(n)]))
        except FileNotFoundError:  # emptied and removed by a gc meanwhile
            continue
    return found


def _pack_objects(idx: Path) -> int:
    """The object count in a pack's index: the last entry of its fan-out table."""
    try:
        with open(idx, "rb") as f:
            head = f.read(8 + 256 * 4)
    except OSError:
        return 0
    start = 8 if head[:4] == b"\377tOc" else 0  # version 2 has a header, version 1 none
    last = head[start + 255 * 4:start + 256 * 4]
    return int.from_bytes(last, "big") if len(last) == 4 else 0


def store_size(gitdir: Path) -> StoreSize:
    """The loose objects and packs of GITDIR, read from the directory (no git process).

    Loose objects are counted exactly; past :data:`_STAT_ALL_UP_TO` of them their bytes are
    extrapolated from every 16th file, so the worst case (100,000 loose files) stays a
    directory read instead of 100,000 ``stat`` calls.
    """
    objects = gitdir / "objects"
    names = _loose_names(objects)
    loose = sum(len(files) for _d, files in names)
    step = 1 if loose <= _STAT_ALL_UP_TO else 16
    sampled = seen = 0
    for d, files in names:
        for name in files[::step]:
            try:
                sampled += _on_disk(os.lstat(os.path.join(d, name)))
                seen += 1
            except FileNotFoundError:
                continue
    loose_bytes = sampled if step == 1 else (sampled * loose) // max(seen, 1)
    packs = packed = pack_bytes = 0
    packdir = objects / "pack"
    try:
        entries = list(os.scandir(packdir))
    except FileNotFoundError:
        entries = []
    for e in entries:
        if not e.name.startswith("pack-"):
            continue
        try:
            pack_bytes += _on_disk(e.stat(follow_symlinks=False))
        except FileNotFoundError:
            continue
        if e.name.endswith(".pack"):
            packs += 1
            packed += _pack_objects(packdir / (e.name[:-5] + ".idx"))
    return StoreSize(loose_objects=loose, loose_bytes=loose_bytes, packs=packs,
                     packed_objects=packed, pack_bytes=pack_bytes)


def read_thresholds(workdir: Path, *, git: str = "git") -> Thresholds:
    """``gc.auto`` and ``gc.autoPackLimit`` from every config git reads (system, global,
    repository; the last one set wins), with git's defaults. A value git cannot read is a
    :class:`~gitsync.gitproc.GitFailed` (git's own gc would refuse to run too)."""
    result = run_git(["config", "--type=int", "-z", "--get-regexp", r"^gc\.auto(packlimit)?$"],
                     cwd=workdir, git=git, timeout=30)
    if result.returncode == 1:  # neither is set
        return Thresholds()
    result.check()
    found: dict[str, int] = {}
    for item in result.stdout.split(b"\0"):
        key, _, value = item.decode(errors="replace").partition("\n")
        if key:
            found[key.lower()] = int(value)
    return Thresholds(loose=found.get("gc.auto", GC_AUTO_DEFAULT),
                      packs=found.get("gc.autopacklimit", PACK_LIMIT_DEFAULT))


def packing_due(gitdir: Path, limits: Thresholds) -> str | None:
    """Why ``git gc --auto`` would pack now, in words, or None; git's own estimate."""
    if limits.loose <= 0:
        return None
    if limits.packs > 0:
        packdir = gitdir / "objects" / "pack"
        try:
            names = set(os.listdir(packdir))
        except FileNotFoundError:
            names = set()
        packs = [n for n in names if n.startswith("pack-") and n.endswith(".pack")
                 and n[:-5] + ".keep" not in names]
        if len(packs) > limits.packs:
            return f"{len(packs)} packs (gc.autoPackLimit is {limits.packs})"
    try:
        sampled = sum(1 for e in os.scandir(gitdir / "objects" / "17")
                      if _is_object_name(e.name))
    except FileNotFoundError:
        sampled = 0
    if sampled > -(-limits.loose // 256):  # git's DIV_ROUND_UP
        return f"about {sampled * 256:,} loose objects (gc.auto is {limits.loose:,})"
    return None


def busy_reason(gitdir: Path, workdir: Path) -> str | None:
    """Which lock of a running git command (a user's, or a gc) is held in the repository."""
    for lock in [*find_locks(gitdir), gitdir / "objects" / "maintenance.lock"]:
        if lock.exists() and not is_stale(lock, workdir):
            return f"{lock.relative_to(gitdir)} is held by a running git command"
    pid = _live_gc_pid(gitdir / "gc.pid")
    if pid is not None:
        return f"git gc (pid {pid}) is running"
    return None


def _live_gc_pid(pidfile: Path) -> int | None:
    """The pid in ``gc.pid`` if that gc still runs on this machine, as git itself judges it
    (a pid file older than 12 hours is stale; one from another host is respected)."""
    try:
        st = pidfile.stat()
        pid_text, _, host = pidfile.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if time.time() - st.st_mtime > 12 * 3600:
        return None
    if host and host != socket.gethostname():
        return pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


# ----------------------------------------------------------------------------- versions
def count_versions(workdir: Path, head: str | None, cache: Path | None = None, *,
                   git: str = "git") -> int:
    """How many commits HEAD's history holds.

    A full count walks every commit (0.3 s for 50,000 without a commit-graph), so with a
    CACHE file the count is kept per head and extended by ``cached...head``: a cheap walk
    over the commits since, and a full count only when the cached head is not an ancestor.
    """
    if head is None:
        return 0
    cached = _read_cache(cache)
    if cached is not None and cached[0] == head:
        return cached[1]
    count: int | None = None
    if cached is not None:
        r = run_git(["rev-list", "--count", "--left-right", f"{cached[0]}...{head}"],
                    cwd=workdir, git=git, timeout=60)
        parts = r.text.split()
        if r.ok and len(parts) == 2 and parts[0] == "0":  # the cached head is an ancestor
            count = cached[1] + int(parts[1])
    if count is None:
        r = run_git(["rev-list", "--count", head], cwd=workdir, git=git, timeout=120,
                    check=True)
        count = int(r.text.strip())
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache, json.dumps({"head": head, "versions": count}), durable=False)
        except OSError as e:  # a cache: status still has its figure
            logger.debug("could not write %s: %s", cache, e)
    return count


def _read_cache(cache: Path | None) -> tuple[str, int] | None:
    if cache is None:
        return None
    try:
        data = json.loads(cache.read_text())
        return str(data["head"]), int(data["versions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def history_size(workdir: Path, gitdir: Path, head: str | None, cache: Path | None = None,
                 ) -> HistorySize:
    return HistorySize(versions=count_versions(workdir, head, cache), store=store_size(gitdir))


# ----------------------------------------------------------------------------- the upkeep
@dataclass(frozen=True)
class UpkeepResult:
    """What one look at the store did: ``ran`` gc, or why not (``busy`` is worth a retry)."""

    ran: bool
    reason: str | None = None
    busy: bool = False
    before: StoreSize | None = None
    after: StoreSize | None = None
    seconds: float = 0.0
    still_due: str | None = None  # why packing is due even after this gc

    def describe(self) -> str:
        if not self.ran or self.before is None or self.after is None:
            return self.reason or "nothing to do"
        b, a = self.before, self.after
        words = f"packed {max(b.loose_objects - a.loose_objects, 0):,} loose objects"
        if b.packs > a.packs + 1:
            words += f" and {b.packs:,} packs into {a.packs:,}"
        return (f"{words} in {self.seconds:.1f} s ({human_bytes(b.disk_bytes)} ->"
                f" {human_bytes(a.disk_bytes)} on disk)")


class Upkeep:
    """One folder's upkeep. The worker calls :meth:`tick` from its thread; a look that finds
    packing due runs ``git gc --auto`` on a thread of its own, so saves keep being committed
    while it packs. Time is a parameter: ``now`` comes from the worker's clock."""

    def __init__(self, workdir: Path, gitdir: Path, *, git: str = "git",
                 every: float = CHECK_EVERY_S, settle: float = SETTLE_S,
                 busy_retry: float = BUSY_RETRY_S,
                 on_done: Callable[[], None] | None = None) -> None:
        self.workdir = workdir
        self.gitdir = gitdir
        self.git = git
        self.every = every
        self.settle = settle
        self.busy_retry = busy_retry
        self.on_done = on_done
        self._idle_since: float | None = None
        self._next_look = 0.0
        self._thread: threading.Thread | None = None
        self._result: UpkeepResult | None = None
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()  # stop() never misses a thread tick() starts
        self._told_off = False
        self._told_busy: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do next (while idle), for the worker's wait."""
        if self.running or self._idle_since is None or self._stopping.is_set():
            return None
        return max(self._next_look, self._idle_since + self.settle)

    def tick(self, now: float, *, idle: bool) -> None:
        """Look at the store if the folder has been idle for a while and a look is due."""
        if self._thread is not None and not self._thread.is_alive():
            self._thread.join()
            self._thread = None
            result, self._result = self._result, None
            if result is not None and result.busy:
                self._next_look = now + self.busy_retry
            elif result is not None and result.still_due:
                self._next_look = now + STILL_DUE_WAIT_S
        if not idle:
            self._idle_since = None
            return
        if self._idle_since is None:
            self._idle_since = now
        if (self._thread is not None or now < self._idle_since + self.settle
                or now < self._next_look):
            return
        with self._start_lock:
            if self._stopping.is_set():
                return
            self._next_look = now + self.every
            self._thread = threading.Thread(target=self._look,
                                            name=f"upkeep:{self.workdir.name}")
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a running gc (its process group) and wait for the thread; no look starts
        after this."""
        with self._start_lock:
            self._stopping.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running look to finish (for callers that drive the worker by hand)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _look(self) -> None:
        try:
            self._result = self.run_once()
        except GitStopped:
            logger.info("%s: packing stopped with the daemon; it resumes later", self.workdir)
        except GitsyncError as e:
            logger.warning("%s: could not pack the repository: %s; will retry in %.0f min",
                           self.workdir, e, self.every / 60)
        except Exception:  # a bug must not take the worker down; say it and go on
            logger.exception("%s: repository upkeep failed", self.workdir)
        finally:
            if self.on_done is not None:
                self.on_done()

    def run_once(self) -> UpkeepResult:
        """Check, and run ``git gc --auto`` if git would: on the caller's thread."""
        limits = read_thresholds(self.workdir, git=self.git)
        if limits.loose <= 0:
            if not self._told_off:
                logger.info("%s: gc.auto is %d: automatic packing is off for this folder",
                            self.workdir, limits.loose)
                self._told_off = True
            return UpkeepResult(ran=False, reason="gc.auto is off")
        self._told_off = False
        why = packing_due(self.gitdir, limits)
        if why is None:
            return UpkeepResult(ran=False, reason="nothing to pack")
        busy = busy_reason(self.gitdir, self.workdir)
        if busy is not None:
            if busy != self._told_busy:  # once, not every few seconds while it lasts
                logger.info("%s: packing waits: %s (%s)", self.workdir, busy, why)
            self._told_busy = busy
            return UpkeepResult(ran=False, reason=busy, busy=True)
        self._told_busy = None
        logger.info("%s: packing the repository: %s", self.workdir, why)
        before = store_size(self.gitdir)
        started = time.monotonic()
        r = run_git(_GC, cwd=self.workdir, git=self.git, timeout=GC_SILENCE_S,
                    should_stop=self._stopping.is_set, low_priority=True)
        seconds = time.monotonic() - started
        after = store_size(self.gitdir)
        if not r.ok or r.stderr.strip():
            # e.g. a gc.log left by a failed gc: git skips automatic gc until it is removed
            logger.warning("%s: git gc: %s", self.workdir,
                           " ".join(r.stderr.split()) or f"exit status {r.returncode}")
        still = packing_due(self.gitdir, limits)
        result = UpkeepResult(ran=True, reason=why, before=before, after=after,
                              seconds=seconds, still_due=still)
        logger.info("%s: %s", self.workdir, result.describe())
        if still:
            logger.info("%s: still %s: unreachable objects younger than git's prune expiry;"
                        " looking again in a day", self.workdir, still)
        return result
