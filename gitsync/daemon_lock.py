"""One daemon per gitsync home, enforced with an advisory lock on a file in that home.

``flock`` locks die with their process, so a daemon killed with -9 never blocks the next
one; the lock is keyed on the gitsync home (``$GITSYNC_HOME`` or the user's dirs), so two
homes on one machine (tests, portable installs) each get their own daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gitsync.config import Paths


class DaemonLock:
    def __init__(self, paths: Paths) -> None:
        self.path = paths.lock_file
        self._fd: int | None = None

    def acquire(self) -> int | None:
        """Take the lock; returns None on success, or the pid of the daemon holding it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return _read_pid(self.path) or -1
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def running_daemon_pid(paths: Paths) -> int | None:
    """The pid of the daemon running on this gitsync home, or None."""
    path = paths.lock_file
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
