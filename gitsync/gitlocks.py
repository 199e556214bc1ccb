"""Finding and clearing git ``.lock`` files that a killed process left behind.

libgit2 never removes a stale lock, so an ``index.lock`` or ``refs/heads/main.lock`` left by
a process killed mid-write would block every later write forever. A lock is stale only when
no live process has it open *and* no live git process is working in the repository (git
sometimes closes a lock file's descriptor while still owning it, e.g. while running hooks);
a live process's lock is never touched.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

# Older than this and unowned, a lock is stale even if some git process runs in the repo:
# no git operation gitsync competes with holds a lock for minutes.
STALE_AFTER_S = 120.0


def find_locks(gitdir: Path) -> list[Path]:
    """Lock files that block writes gitsync makes (index, HEAD, refs, config, packed-refs)."""
    found: list[Path] = []
    for name in ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "ORIG_HEAD.lock"):
        p = gitdir / name
        if p.exists():
            found.append(p)
    refs = gitdir / "refs"
    if refs.is_dir():
        for dirpath, _dirs, files in os.walk(refs):
            found.extend(Path(dirpath) / f for f in files if f.endswith(".lock"))
    return found


def _proc_entries() -> Iterator[tuple[int, Path]]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name), Path(entry.path)


def _open_by_anyone(path: Path) -> bool:
    target = str(path.resolve())
    for _pid, proc in _proc_entries():
        try:
            for fd in os.scandir(proc / "fd"):
                try:
                    if os.readlink(fd.path) == target:
                        return True
                except OSError:
                    continue
        except OSError:
            continue
    return False


def _git_process_in(workdir: Path) -> bool:
    root = str(workdir.resolve())
    me = os.getpid()
    for pid, proc in _proc_entries():
        if pid == me:
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if not comm.startswith("git"):
                continue
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            return True
    return False


def is_stale(lock: Path, workdir: Path, *, now: float | None = None) -> bool:
    if not Path("/proc/self/fd").is_dir():
        # No procfs (macOS, Windows): fall back on age alone.
        try:
            return (now or time.time()) - lock.stat().st_mtime > STALE_AFTER_S
        except FileNotFoundError:
            return False
    try:
        age = (now or time.time()) - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if _open_by_anyone(lock):
        return False
    return age > STALE_AFTER_S or not _git_process_in(workdir)


def clear_stale_locks(gitdir: Path, workdir: Path) -> list[Path]:
    """Remove the stale locks of one repository; returns what was removed."""
    removed: list[Path] = []
    for lock in find_locks(gitdir):
        if is_stale(lock, workdir):
            try:
                lock.unlink()
            except FileNotFoundError:
                continue
            logger.warning("removed stale git lock %s left by a stopped process", lock)
            removed.append(lock)
    return removed
