"""Filesystem events for one folder: the only module that imports watchdog.

It reports paths relative to the folder, already split into "changed" and "gone"; it knows
nothing about git or debouncing. Directory events are passed on as the directory's path;
the committer expands them (a folder moved in, a folder deleted). When the kernel drops
events (inotify queue overflow), ``on_overflow`` is called so the owner can rescan.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

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

from gitsync.errors import FolderError

# watchdog warns, with a page-long dump, when a directory it already watches is created again
# under the same path (git re-creating .git/refs/remotes/origin); it then replaces the watch,
# which is what we want. Not watching .git at all is the real fix (the big-folders issue).
warnings.filterwarnings("ignore", message="Callback with id .* already exists for watch",
                        category=RuntimeWarning)

logger = logging.getLogger(__name__)

OnChange = Callable[[str, bool], None]  # (relative path, gone)


class _OverflowRelay(logging.Handler):
    """watchdog handles an inotify overflow internally and only logs it; relay that to owners.

    Every watcher is told, since the log record does not say which watch overflowed; a
    spurious rescan is cheap (it uses the index's stat cache), a missed one loses changes.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.listeners: set[Callable[[], None]] = set()
        self.listeners_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            with self.listeners_lock:
                listeners = list(self.listeners)
            for fn in listeners:
                fn()


_relay = _OverflowRelay()
for _name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
    logging.getLogger(_name).addHandler(_relay)


class _Handler(FileSystemEventHandler):
    def __init__(self, root: str, on_change: OnChange) -> None:
        self.root = root
        self.on_change = on_change

    def _rel(self, path: str | bytes) -> str | None:
        p = os.fsdecode(path)
        if p == self.root:
            return None
        if not p.startswith(self.root + os.sep):
            return None
        rel = p[len(self.root) + 1:].replace(os.sep, "/")
        first = rel.split("/", 1)[0]
        if first == ".git":
            return None
        return rel

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._dispatch(event)
        except Exception:  # never let one odd event kill the observer thread
            logger.exception("could not handle filesystem event %r", event)

    def _dispatch(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            src = self._rel(event.src_path)
            dst = self._rel(event.dest_path)
            if src:
                self.on_change(src, True)
            if dst:
                self.on_change(dst, False)
            return
        rel = self._rel(event.src_path)
        if rel is None:
            return
        if isinstance(event, FileDeletedEvent | DirDeletedEvent):
            self.on_change(rel, True)
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent | FileClosedEvent
                        | FileAttribEvent | DirCreatedEvent):
            self.on_change(rel, False)


class WatchLimitError(FolderError):
    """The kernel refused to watch the folder (inotify's max_user_watches or instances)."""


class FolderWatcher:
    """Recursive watch of one folder, started and stopped by its owner."""

    def __init__(self, root: Path, on_change: OnChange, on_overflow: Callable[[], None]) -> None:
        self.root = root.resolve()
        self._on_overflow = on_overflow
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_Handler(str(self.root), on_change), str(self.root),
                                recursive=True)

    def start(self) -> None:
        """Raises :class:`WatchLimitError` when the kernel refuses the watches."""
        with _relay.listeners_lock:
            _relay.listeners.add(self._on_overflow)
        try:
            self._observer.start()
        except OSError as e:
            with _relay.listeners_lock:
                _relay.listeners.discard(self._on_overflow)
            if e.errno in (errno.ENOSPC, errno.EMFILE):
                raise WatchLimitError(
                    f"the system's limit on watched folders is reached ({e.strerror})",
                    path=str(self.root),
                    hint="raise it: sudo sysctl fs.inotify.max_user_watches=524288 "
                         "fs.inotify.max_user_instances=1024") from e
            raise

    def stop(self) -> None:
        with _relay.listeners_lock:
            _relay.listeners.discard(self._on_overflow)
        self._observer.stop()
        self._observer.join(timeout=10)


class _RefHandler(FileSystemEventHandler):
    def __init__(self, names: set[str], on_change: Callable[[], None]) -> None:
        self.names = names
        self.on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Reads (git fetch opening packed-refs) report opened/closed-no-write: not a move.
        if not isinstance(event, FileCreatedEvent | FileModifiedEvent | FileMovedEvent
                          | FileClosedEvent | FileDeletedEvent):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(os.path.basename(os.fsdecode(p)) in self.names for p in paths if p):
            self.on_change()


class RefWatcher:
    """Tells the owner the moment a local hub's branch moves (no polling).

    A push into a bare repo on the same disk renames ``refs/heads/BRANCH.lock`` onto
    ``refs/heads/BRANCH`` (or rewrites ``packed-refs``); watching those two directories,
    non-recursively, costs nothing while idle.
    """

    def __init__(self, hub: Path, branch: str, on_change: Callable[[], None]) -> None:
        ref = hub / "refs" / "heads" / branch
        self._observer = Observer()
        self._observer.daemon = True
        handler = _RefHandler({ref.name, "packed-refs"}, on_change)
        ref.parent.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(handler, str(ref.parent), recursive=False)
        self._observer.schedule(handler, str(hub), recursive=False)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=10)
