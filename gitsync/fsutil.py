"""Small durability helpers on top of the os module."""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Callable
from pathlib import Path

_tmp_ids = itertools.count()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, *, perm: int | None = None,
                 durable: bool = True, still_safe: Callable[[], bool] | None = None
                 ) -> bool:
    """Replace PATH with DATA so that a crash leaves the old file or the new one, never half.

    The data goes to a temp file in the same directory (named ``.gitsync-tmp-*``, which the
    watcher and the committer ignore), then is renamed over PATH. DURABLE (the default)
    fsyncs the file before the rename and the directory after it; a caller that writes many
    files and flushes the filesystem once afterwards (``syncfs``) passes False. PERM is the
    new file's permission bits; by default an existing file's are kept, else the umask's.
    STILL_SAFE is asked once the new content is on disk, right before the rename: False
    (say, the user saved PATH while the temp file was written and synced) leaves PATH as it
    is and returns False. Otherwise returns True.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if perm is None:
        try:
            perm = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            perm = 0o666 & ~umask()
    fd, tmpname = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmpname, perm)
        if still_safe is not None and not still_safe():
            Path(tmpname).unlink(missing_ok=True)
            return False
        os.replace(tmpname, path)
    except BaseException:
        Path(tmpname).unlink(missing_ok=True)
        raise
    if durable:
        fsync_path(path.parent)  # the rename itself survives a power cut
    return True


def _create_temp(path: Path) -> tuple[int, str]:
    """A new file beside PATH that nobody else has open (not tempfile: its import costs a
    merge driver, which runs once per conflicted file, more than the write itself)."""
    while True:
        name = f".gitsync-tmp-{os.getpid()}-{next(_tmp_ids)}-{path.name[:200]}"
        tmpname = str(path.parent / name)
        try:
            return os.open(tmpname, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                           0o600), tmpname
        except FileExistsError:
            continue


def umask() -> int:
    """The process's umask, read without setting it: os.umask is process-wide, and a
    thread creating a file while it is briefly 0 would make that file world-writable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_START


_UMASK_AT_START = os.umask(0o022)
os.umask(_UMASK_AT_START)


def syncfs(path: Path) -> None:
    """Flush the whole filesystem holding PATH (Linux syncfs(2)); elsewhere, sync(2).

    One flush after writing many files is much cheaper than one fsync per file, and gives
    the same promise as long as nothing that points at the files (a ref, the index) is
    written before it.
    """
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()
