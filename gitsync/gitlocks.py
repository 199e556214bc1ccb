"""Finding and clearing git ``.lock`` files that a killed process left behind.

libgit2 never removes a stale lock, so an ``index.lock`` or ``refs/heads/main.lock`` left by
a process killed mid-write would block every later write forever. A lock is stale only when
no live process has it open *and* no live git process is working in the repository (git
sometimes closes a lock file's descriptor while still owning it, e.g. while running hooks);
a live process's lock is never touched. Processes are looked at through psutil, which reads
``/proc`` on Linux and asks the kernel elsewhere (macOS, the BSDs).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import psutil

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


def _open_by_anyone(path: Path) -> bool:
    target = str(path.resolve())
    for proc in psutil.process_iter():
        try:
            if any(f.path == target for f in proc.open_files()):
                return True
        except (psutil.Error, OSError):  # it ended meanwhile, or is not ours to look into
            continue
    return False


def _git_process_in(workdir: Path) -> bool:
    root = str(workdir.resolve())
    me = os.getpid()
    for proc in psutil.process_iter(["name", "cwd"]):
        name, cwd = proc.info["name"] or "", proc.info["cwd"] or ""
        if proc.pid == me or not name.startswith("git") or not cwd:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            return True
    return False


def is_stale(lock: Path, workdir: Path, *, now: float | None = None) -> bool:
    """True when no live process has ``lock`` open and no git process works in ``workdir``
    (or none has for :data:`STALE_AFTER_S`)."""
    try:
        age = (now or time.time()) - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if _open_by_anyone(lock):
        return False
    return age > STALE_AFTER_S or not _git_process_in(workdir)


def clear_stale_locks(gitdir: Path, workdir: Path, *, only: Path | None = None
                      ) -> list[Path]:
    """Remove the stale locks of one repository (ONLY: just that one, if it is one of
    them); returns what was removed."""
    removed: list[Path] = []
    for lock in find_locks(gitdir):
        if only is not None and lock.resolve() != only.resolve():
            continue
        if is_stale(lock, workdir):
            try:
                lock.unlink()
            except FileNotFoundError:
                continue
            logger.warning("removed stale git lock %s left by a stopped process", lock)
            removed.append(lock)
    return removed
