"""Filesystem events for one folder: the only module that touches filesystem events.

It reports paths relative to the folder, already split into "changed" and "gone"; it knows
nothing about git or debouncing. Directory events are passed on as the directory's path;
the committer expands them (a folder moved in, a folder deleted). When the kernel drops
events (inotify queue overflow), ``on_overflow`` is called so the owner can rescan.

Reading the folder costs nothing. On Linux the watch is our own inotify reader (one
descriptor, one thread per watcher) so that the kernel's mask holds only events that mean a
change, and no event is ever queued for a read:

- subscribed: ``IN_CREATE``, ``IN_CLOSE_WRITE``, ``IN_MODIFY``, ``IN_MOVED_FROM``,
  ``IN_MOVED_TO``, ``IN_DELETE``, ``IN_ATTRIB`` (the exec bit, ``touch``), and
  ``IN_DELETE_SELF``/``IN_MOVE_SELF``;
- never subscribed: ``IN_OPEN``, ``IN_ACCESS``, ``IN_CLOSE_NOWRITE`` (an editor indexing, a
  backup tool, ``grep -r``). An atime update on read is not an ``IN_ATTRIB`` either.
- ``IN_MODIFY`` stays: only a write causes it, and it is what tells a file written and kept
  open (a log, a download, a program writing in chunks) from a finished one, so that such a
  file is committed once it has been quiet for the debounce (or every ``max_batch_delay``)
  and never half-way between two chunks. The worker has no periodic rescan to catch it
  otherwise. The kernel merges consecutive identical events, so a long write queues few.

Nothing inside a ``.git`` directory is watched (at any depth: a nested repository is not
synced either), so git's own writes (objects, the index, refs) never reach the queue and a
first snapshot does not flood it. Nothing relied on those events: they were dropped before
reaching the worker, which checks the repository's state (a user's rebase, merge or
detached HEAD, see ``Repo.pause_reason``) on every tick and reads HEAD afresh for each
commit, and knows when it writes there itself.

Events are read in big batches (a 1 MiB buffer, and a short pause after a large batch so
the next read takes what piled up), so a big copy-in does not overflow the kernel's queue
(``fs.inotify.max_queued_events``). Each overflow is counted and logged, the watches are
checked against the tree (folders created meanwhile are added), then the owner rescans.

On other systems watchdog is used, with ``.git`` events dropped in Python.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gitsync.errors import FolderError

logger = logging.getLogger(__name__)

OnChange = Callable[[str, bool], None]  # (relative path, gone)

_INOTIFY = sys.platform.startswith("linux")

# <sys/inotify.h>
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

FOLDER_MASK = (IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO
               | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
               | IN_ONLYDIR | IN_DONT_FOLLOW)
REF_MASK = (IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE
            | IN_ONLYDIR)

READ_BUFFER = 1 << 20
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len
_MAX_EVENT = _HEADER.size + 256  # NAME_MAX + 1
BIG_BATCH = 512  # events: after a read this large, let the next batch pile up
BATCH_PAUSE_S = 0.005

RawEvent = tuple[int, int, int, str]  # wd, mask, cookie, name


class WatchLimitError(FolderError):
    """The kernel refused to watch the folder (inotify's max_user_watches or instances)."""


def _limit_error(root: Path, e: OSError) -> WatchLimitError:
    return WatchLimitError(
        f"the system's limit on watched folders is reached ({e.strerror})",
        path=str(root),
        hint="raise it: sudo sysctl fs.inotify.max_user_watches=524288 "
             "fs.inotify.max_user_instances=1024")


# ----------------------------------------------------------------------------- inotify
_libc: Any = None


def _lib() -> Any:
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        _libc = lib
    return _libc


def _os_error(path: str | None = None) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), path)


class _Inotify:
    """One inotify descriptor and the thread that reads it in batches.

    HANDLE gets each batch of events and whether the read may have stopped in the middle
    of the queue (the buffer was nearly full), on the reader thread.
    """

    def __init__(self, name: str, handle: Callable[[list[RawEvent], bool], None]) -> None:
        self._name = name
        self._handle = handle
        self.fd = -1
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        fd = _lib().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise _os_error()
        self.fd = fd

    def add(self, path: bytes, mask: int) -> int:
        wd = _lib().inotify_add_watch(self.fd, path, mask)
        if wd < 0:
            raise _os_error(os.fsdecode(path))
        return int(wd)

    def remove(self, wd: int) -> None:
        _lib().inotify_rm_watch(self.fd, wd)  # EINVAL: already gone, which is fine

    def start(self) -> None:
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None and self._wake is not None:
            os.write(self._wake[1], b"x")
            self._thread.join(timeout=10)
            self._thread = None
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        if self.fd >= 0:
            os.close(self.fd)  # drops every watch at once
            self.fd = -1

    def _run(self) -> None:
        assert self._wake is not None
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        buf = bytearray(READ_BUFFER)
        view = memoryview(buf)
        count = 0
        while True:
            if count >= BIG_BATCH:
                # A burst: wait a moment so the next read takes a big batch instead of
                # waking per event; a single save (a small batch) is read at once.
                time.sleep(BATCH_PAUSE_S)
            if any(fd == self._wake[0] for fd, _ in poller.poll()):
                return
            try:
                n = os.readv(self.fd, [buf])
            except BlockingIOError:
                count = 0
                continue
            except OSError as e:
                logger.error("could not read filesystem events (%s); watching stopped", e)
                return
            events = _parse(view, n)
            count = len(events)
            try:
                self._handle(events, n > READ_BUFFER - _MAX_EVENT)
            except Exception:  # never let one odd event end the watch
                logger.exception("could not handle filesystem events")


def _parse(view: memoryview, n: int) -> list[RawEvent]:
    out: list[RawEvent] = []
    i = 0
    unpack = _HEADER.unpack_from
    size = _HEADER.size
    while i < n:
        wd, mask, cookie, length = unpack(view, i)
        i += size
        name = os.fsdecode(bytes(view[i:i + length]).rstrip(b"\0")) if length else ""
        i += length
        out.append((wd, mask, cookie, name))
    return out


class _InotifyFolder:
    """The recursive watch of one folder on Linux (see the module docstring)."""

    def __init__(self, root: Path, on_change: OnChange, on_overflow: Callable[[], None]) -> None:
        self.root = root
        self._on_change = on_change
        self._on_overflow = on_overflow
        self._ino = _Inotify(f"watch:{root.name}", self._handle)
        self._lock = threading.Lock()  # the two maps, read by watched_dirs() from elsewhere
        self._dir_of: dict[int, str] = {}  # wd -> folder-relative dir ("" is the root)
        self._wd_of: dict[str, int] = {}
        self._moved_from: dict[int, str] = {}  # cookie -> dir moved away, until its pair
        self.overflows = 0
        self._limit_logged = False

    def start(self) -> None:
        try:
            self._ino.open()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOSPC):
                raise _limit_error(self.root, e) from e
            raise
        try:
            self._watch_tree("", starting=True)
        except OSError as e:
            self._ino.close()
            if e.errno in (errno.ENOSPC, errno.EMFILE):
                raise _limit_error(self.root, e) from e
            raise
        self._ino.start()

    def stop(self) -> None:
        self._ino.close()
        with self._lock:
            self._dir_of.clear()
            self._wd_of.clear()

    def watched_dirs(self) -> list[str]:
        with self._lock:
            return sorted(self._wd_of)

    # ------------------------------------------------------------- watches
    def _watch_tree(self, top: str, *, starting: bool = False) -> set[int]:
        """Watch TOP and every folder under it except ``.git``; the watches made or found.

        At start-up any refusal is raised (the caller turns the limit into
        WatchLimitError); later a folder that vanished meanwhile is simply skipped.
        """
        seen: set[int] = set()
        stack = [top]
        while stack:
            rel = stack.pop()
            full = os.path.join(self.root, rel) if rel else str(self.root)
            try:
                wd = self._ino.add(os.fsencode(full), FOLDER_MASK)
            except OSError as e:
                if (starting and rel == top) or (starting and e.errno == errno.ENOSPC):
                    raise
                if e.errno in (errno.ENOSPC, errno.EMFILE):
                    self._limit_reached(rel, e)
                continue
            seen.add(wd)
            with self._lock:
                old = self._dir_of.get(wd)
                if old is not None and old != rel and self._wd_of.get(old) == wd:
                    del self._wd_of[old]  # the same folder, known under its old name
                self._dir_of[wd] = rel
                self._wd_of[rel] = wd
            try:
                with os.scandir(full) as it:
                    for entry in it:
                        if entry.name != ".git" and entry.is_dir(follow_symlinks=False):
                            stack.append(f"{rel}/{entry.name}" if rel else entry.name)
            except OSError:
                continue  # gone or unreadable meanwhile: its events say what happened
        return seen

    def _limit_reached(self, rel: str, e: OSError) -> None:
        if not self._limit_logged:
            self._limit_logged = True
            logger.error("%s: cannot watch %s, the system's limit on watched folders is "
                         "reached (%s); changes there are found only by a rescan. Raise it: "
                         "sudo sysctl fs.inotify.max_user_watches=524288", self.root,
                         rel or ".", e.strerror)

    def _subtree(self, top: str) -> list[tuple[str, int]]:
        prefix = top + "/"
        return [(rel, wd) for rel, wd in self._wd_of.items()
                if rel == top or rel.startswith(prefix)]

    def _renamed(self, src: str, dst: str) -> None:
        with self._lock:
            for rel, wd in self._subtree(src):
                del self._wd_of[rel]
                new = dst + rel[len(src):]
                self._wd_of[new] = wd
                self._dir_of[wd] = new

    def _unwatch(self, top: str) -> None:
        """A folder moved out of the tree: its watches would report paths it no longer has."""
        with self._lock:
            gone = self._subtree(top)
            for rel, wd in gone:
                del self._wd_of[rel]
                self._dir_of.pop(wd, None)
        for _rel, wd in gone:
            self._ino.remove(wd)

    def _forget(self, wd: int) -> None:
        with self._lock:
            rel = self._dir_of.pop(wd, None)
            if rel is not None and self._wd_of.get(rel) == wd:
                del self._wd_of[rel]

    # ------------------------------------------------------------- events
    def _handle(self, events: list[RawEvent], partial: bool) -> None:
        overflow = False
        report = self._on_change
        for wd, mask, cookie, name in events:
            if mask & IN_Q_OVERFLOW:
                overflow = True
                continue
            if mask & IN_IGNORED:
                self._forget(wd)
                continue
            base = self._dir_of.get(wd)
            if base is None or not name:
                if base == "" and mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                    logger.warning("%s: the folder itself was moved or deleted", self.root)
                continue
            if name == ".git":
                continue
            rel = f"{base}/{name}" if base else name
            is_dir = mask & IN_ISDIR
            if mask & IN_MOVED_FROM:
                if is_dir:
                    self._moved_from[cookie] = rel
                report(rel, True)
            elif mask & IN_MOVED_TO:
                if is_dir:
                    src = self._moved_from.pop(cookie, None)
                    if src is not None:
                        self._renamed(src, rel)
                    else:
                        self._watch_tree(rel)
                report(rel, False)
            elif mask & IN_CREATE:
                if is_dir:
                    self._watch_tree(rel)  # before reporting, so nothing created after is lost
                report(rel, False)
            elif mask & IN_DELETE:
                report(rel, True)  # a folder's own watches end with IN_IGNORED
            elif not is_dir and mask & (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB):
                report(rel, False)
        if not partial and self._moved_from:
            # A folder moved out (its pair never came): stop watching it.
            for src in self._moved_from.values():
                self._unwatch(src)
            self._moved_from.clear()
        if overflow:
            self._overflowed()

    def _overflowed(self) -> None:
        self.overflows += 1
        logger.warning("%s: the kernel's queue of file events overflowed and some events were "
                       "lost (overflow %d since start; fs.inotify.max_queued_events); "
                       "rescanning the whole folder", self.root, self.overflows)
        self._moved_from.clear()
        # Folders created or moved meanwhile were never seen: make the watches match the tree.
        seen = self._watch_tree("")
        with self._lock:
            stale = [(rel, wd) for rel, wd in self._wd_of.items() if wd not in seen]
            for rel, wd in stale:
                del self._wd_of[rel]
                self._dir_of.pop(wd, None)
        for _rel, wd in stale:
            self._ino.remove(wd)
        self._on_overflow()


class _InotifyRefs:
    """Non-recursive watches of a few directories, reporting when one of NAMES changes."""

    def __init__(self, dirs: Iterable[Path], names: set[str],
                 on_change: Callable[[], None]) -> None:
        self._dirs = list(dirs)
        self._names = names
        self._on_change = on_change
        self._ino = _Inotify("refwatch", self._handle)

    def start(self) -> None:
        self._ino.open()
        try:
            for d in self._dirs:
                self._ino.add(os.fsencode(d), REF_MASK)
        except OSError:
            self._ino.close()
            raise
        self._ino.start()

    def stop(self) -> None:
        self._ino.close()

    def _handle(self, events: list[RawEvent], _partial: bool) -> None:
        if any(name in self._names or mask & IN_Q_OVERFLOW for _wd, mask, _c, name in events):
            self._on_change()


# ----------------------------------------------------------------------------- other systems
def _watchdog_folder(root: Path, on_change: OnChange,
                     on_overflow: Callable[[], None]) -> Any:
    """watchdog's native observer (FSEvents, ReadDirectoryChangesW) where inotify is not."""
    from watchdog.events import (
        DirCreatedEvent,
        DirDeletedEvent,
        DirMovedEvent,
        FileAttribEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
        FileSystemEvent,
        FileSystemEventHandler,
    )
    from watchdog.observers import Observer

    prefix = str(root) + os.sep

    def rel_of(path: str | bytes) -> str | None:
        p = os.fsdecode(path)
        if not p.startswith(prefix):
            return None
        rel = p[len(prefix):].replace(os.sep, "/")
        return None if ".git" in rel.split("/") else rel

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            try:
                if isinstance(event, FileMovedEvent | DirMovedEvent):
                    src, dst = rel_of(event.src_path), rel_of(event.dest_path)
                    if src:
                        on_change(src, True)
                    if dst:
                        on_change(dst, False)
                    return
                rel = rel_of(event.src_path)
                if rel is None:
                    return
                if isinstance(event, FileDeletedEvent | DirDeletedEvent):
                    on_change(rel, True)
                elif isinstance(event, FileCreatedEvent | FileModifiedEvent | FileClosedEvent
                                | FileAttribEvent | DirCreatedEvent):
                    on_change(rel, False)
            except Exception:  # never let one odd event kill the observer thread
                logger.exception("could not handle filesystem event %r", event)

    observer = Observer()
    observer.daemon = True
    observer.schedule(Handler(), str(root), recursive=True)
    return observer


def _watchdog_refs(dirs: Iterable[Path], names: set[str],
                   on_change: Callable[[], None]) -> Any:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):  # a read is not a move
                return
            paths = [event.src_path, getattr(event, "dest_path", "")]
            if any(os.path.basename(os.fsdecode(p)) in names for p in paths if p):
                on_change()

    observer = Observer()
    observer.daemon = True
    for d in dirs:
        observer.schedule(Handler(), str(d), recursive=False)
    return observer


# ----------------------------------------------------------------------------- public
class FolderWatcher:
    """Recursive watch of one folder, started and stopped by its owner."""

    def __init__(self, root: Path, on_change: OnChange, on_overflow: Callable[[], None]) -> None:
        self.root = root.resolve()
        self._inotify: _InotifyFolder | None = None
        self._observer: Any = None
        if _INOTIFY:
            self._inotify = _InotifyFolder(self.root, on_change, on_overflow)
        else:
            self._observer = _watchdog_folder(self.root, on_change, on_overflow)

    def start(self) -> None:
        """Raises :class:`WatchLimitError` when the kernel refuses the watches."""
        if self._inotify is not None:
            self._inotify.start()
            return
        try:
            self._observer.start()
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EMFILE):
                raise _limit_error(self.root, e) from e
            raise

    def stop(self) -> None:
        if self._inotify is not None:
            self._inotify.stop()
        else:
            self._observer.stop()
            self._observer.join(timeout=10)

    @property
    def overflows(self) -> int:
        """How many times the kernel dropped events since start (0 where not counted)."""
        return self._inotify.overflows if self._inotify is not None else 0

    def watched_dirs(self) -> list[str] | None:
        """The folders under watch, relative to the root ("" is the root itself); None
        where the system watches the tree as a whole."""
        return self._inotify.watched_dirs() if self._inotify is not None else None


class RefWatcher:
    """Tells the owner the moment a local hub's branch moves (no polling).

    A push into a bare repo on the same disk renames ``refs/heads/BRANCH.lock`` onto
    ``refs/heads/BRANCH`` (or rewrites ``packed-refs``); watching those two directories,
    non-recursively, costs nothing while idle (and reads such as a fetch queue nothing).
    """

    def __init__(self, hub: Path, branch: str, on_change: Callable[[], None]) -> None:
        ref = hub / "refs" / "heads" / branch
        ref.parent.mkdir(parents=True, exist_ok=True)
        dirs, names = [ref.parent, hub], {ref.name, "packed-refs"}
        self._impl: Any = (_InotifyRefs(dirs, names, on_change) if _INOTIFY
                           else _watchdog_refs(dirs, names, on_change))

    def start(self) -> None:
        self._impl.start()

    def stop(self) -> None:
        if isinstance(self._impl, _InotifyRefs):
            self._impl.stop()
        else:
            self._impl.stop()
            self._impl.join(timeout=10)
