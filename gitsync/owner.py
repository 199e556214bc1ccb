"""Who may write a folder right now: one owner at a time, by an advisory lock.

The daemon's worker holds a folder's owner lock for as long as it runs; a CLI command that
writes (``sync``, ``restore``, ``resolve``, ``clone``) takes it for the length of its work
when no daemon owns the folder, and otherwise hands its request to the daemon (see
:mod:`gitsync.channel`). ``flock`` locks die with their process, so a process killed with -9
never leaves a folder locked. The lock file lives in the folder's ``.git`` (not in a
gitsync home), so two gitsync homes that register the same folder still exclude each other.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

OWNER_FILE = "gitsync-owner"


class FolderOwner:
    def __init__(self, gitdir: Path) -> None:
        self.path = gitdir / OWNER_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this process now owns the folder."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self, *, stop: Callable[[], bool] = lambda: False,
                poll: float = 0.05) -> bool:
        """Wait for the lock until STOP says to give up; True once owned."""
        while not self.try_acquire():
            if stop():
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder_pid(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None
