"""One owner per folder: every write to a folder's repo goes through its worker's thread.

Watcher events, timers, rescans and sync requests are messages on one queue served by one
thread, so no two writers ever race on the same repository inside the daemon. Time comes
from an injectable clock. The worker publishes events and keeps a small JSON state file
(``state_dir/folders/<key>.json``) that ``gitsync status`` reads from another process.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitsync.committer import Committer
from gitsync.config import FolderConfig, Paths, folder_key
from gitsync.debounce import Debouncer
from gitsync.errors import GitsyncError, LockedError
from gitsync.events import Event, EventBus
from gitsync.ignore import IgnoreRules, exclude_patterns
from gitsync.repo import Repo
from gitsync.sync import Syncer
from gitsync.watcher import FolderWatcher

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
RETRY_CAP_S = 60.0


@dataclass
class FolderState:
    """What ``status`` shows about a folder while the daemon runs."""

    state: str = "starting"
    reason: str | None = None
    pending: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    retrying: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
    offline_since: float | None = None
    last_commit: str | None = None
    last_push: float | None = None
    pid: int = field(default_factory=os.getpid)
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def write_state(path: Path, state: FolderState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state.updated = time.time()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1))
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class FolderWorker:
    def __init__(
        self,
        folder: FolderConfig,
        settings: dict[str, Any],
        paths: Paths,
        bus: EventBus,
        *,
        clock: Clock = time.monotonic,
        watch: bool = True,
    ) -> None:
        self.folder = folder
        self.settings = settings
        self.paths = paths
        self.bus = bus
        self.clock = clock
        self.repo = Repo(folder.path)
        self.committer = Committer(
            self.repo, folder.device, size_limit=int(settings["size_limit"]),
            ignore=IgnoreRules(settings["ignore"]),
        )
        self.syncer = Syncer(self.repo, folder.remote, folder.branch)
        self.debouncer = Debouncer(settings["debounce"], settings["max_batch_delay"],
                                   settings["delete_delay"])
        self.state = FolderState()
        self.state_file = paths.folder_state_file(folder_key(folder.path))
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._retry_at: dict[str, tuple[float, int]] = {}
        self._thread = threading.Thread(target=self._run, name=f"worker:{folder.path.name}")
        self._watcher = (FolderWatcher(folder.path, self._on_fs_event, self.request_rescan)
                         if watch else None)
        self._stopped = threading.Event()
        self._push_due = False
        self._next_push_try = 0.0
        self._push_backoff = 1.0

    # ------------------------------------------------------------- called from other threads
    def start(self) -> None:
        if self._watcher:
            self._watcher.start()
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is pending, try one last push, then stop."""
        if self._watcher:
            self._watcher.stop()
        self._queue.put(("stop", None))
        self._thread.join(timeout)

    def request_rescan(self) -> None:
        self._queue.put(("rescan", None))

    def request_sync(self) -> threading.Event:
        done = threading.Event()
        self._queue.put(("sync", done))
        return done

    def _on_fs_event(self, relpath: str, gone: bool) -> None:
        self._queue.put(("fs", (relpath, gone)))

    # ------------------------------------------------------------- the owner thread
    def _publish(self, kind: str, message: str, *, needs_user: bool = False,
                 **data: Any) -> None:
        self.bus.publish(Event(kind, str(self.folder.path), message, data,
                               needs_user=needs_user))

    def _save_state(self) -> None:
        self.state.pending = self.debouncer.paths
        try:
            write_state(self.state_file, self.state)
        except OSError as e:
            logger.warning("could not write state file %s: %s", self.state_file, e)

    def _run(self) -> None:
        try:
            self._startup()
            while True:
                msg = self._next_message()
                if msg is not None and msg[0] == "stop":
                    self._flush()
                    break
                if msg is not None:
                    self._handle(msg)
                self._tick()
        except Exception as e:  # a bug: report it, don't take the daemon down silently
            logger.exception("worker for %s stopped on an unexpected error", self.folder.path)
            self.state.state, self.state.last_error = "error", f"internal error: {e}"
            self._publish("error", f"stopped on an internal error: {e}", needs_user=True)
        finally:
            self.state.state = "stopped"
            self._save_state()
            self._stopped.set()

    def _next_message(self) -> tuple[str, Any] | None:
        deadline = self.debouncer.next_deadline()
        timeouts = [1.0 if self.state.state == "paused" else 30.0]
        if deadline is not None:
            timeouts.append(deadline - self.clock())
        if self._retry_at:
            timeouts.append(min(t for t, _ in self._retry_at.values()) - self.clock())
        if self._push_due:
            timeouts.append(self._next_push_try - self.clock())
        timeout = max(0.0, min(timeouts))
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _startup(self) -> None:
        self.repo.install_excludes(exclude_patterns(self.settings["ignore"]))
        removed = self.repo.clear_stale_locks()
        if removed:
            self._publish("lock-recovered", f"removed {len(removed)} stale git lock(s)",
                          locks=[str(p) for p in removed])
        if not self._check_pause():
            self._full_scan()
        self.state.state = "paused" if self.state.reason else "watching"
        self._push_due = True
        self._save_state()

    def _check_pause(self) -> bool:
        reason = self.repo.pause_reason()
        if reason != self.state.reason:
            self.state.reason = reason
            if reason:
                self.state.state = "paused"
                logger.warning("%s: paused, %s", self.folder.path, reason)
                self._publish("paused", f"paused: {reason}", needs_user=True, reason=reason)
            else:
                self.state.state = "watching"
                logger.info("%s: resumed", self.folder.path)
                self._publish("resumed", "resumed")
                self._full_scan()
            self._save_state()
        return reason is not None

    def _full_scan(self) -> None:
        try:
            changed = [p for p in self.repo.changed_paths() if self.committer.wanted(p)]
        except Exception as e:
            logger.warning("%s: scan failed (%s); will retry", self.folder.path, e)
            return
        if changed:
            logger.info("%s: %d change(s) found by scan", self.folder.path, len(changed))
            self._commit(changed, whole_tree=True)

    def _handle(self, msg: tuple[str, Any]) -> None:
        kind, arg = msg
        now = self.clock()
        if kind == "fs":
            relpath, gone = arg
            if self.committer.ignore.matches(relpath):
                return
            self.debouncer.touch(relpath, now, deleted=gone)
        elif kind == "rescan":
            self._full_scan()
        elif kind == "sync":
            self._flush()
            self._push()
            arg.set()

    def _tick(self) -> None:
        now = self.clock()
        if self._check_pause():
            return
        due = self.debouncer.due(now)
        ready = [p for p, (t, _n) in self._retry_at.items() if t <= now]
        if due or ready:
            self._commit(sorted(set(due) | set(ready)))
        if self._push_due and now >= self._next_push_try:
            self._push()

    def _flush(self) -> None:
        """Commit everything pending now, settled or not (on stop and on ``sync``)."""
        todo = set(self.debouncer.paths) | set(self._retry_at)
        self.debouncer.clear()
        if todo:
            self._commit(sorted(todo))

    def _commit(self, paths: list[str], *, whole_tree: bool = False) -> None:
        if self.repo.pause_reason():
            self.debouncer.requeue(paths, self.clock())
            return
        try:
            result = self.committer.commit(paths, whole_tree=whole_tree)
        except LockedError as e:
            logger.warning("%s: %s", self.folder.path, e)
            self.debouncer.requeue(paths, self.clock())
            return
        except GitsyncError as e:
            self.state.last_error = str(e)
            logger.warning("%s: commit failed: %s", self.folder.path, e)
            self.debouncer.requeue(paths, self.clock())
            self._save_state()
            return
        now = self.clock()
        for p in paths:
            if p not in {h.path for h in result.retry}:
                self._retry_at.pop(p, None)
                self.state.retrying.pop(p, None)
        for h in result.retry:
            _t, n = self._retry_at.get(h.path, (0.0, 0))
            delay = min(RETRY_CAP_S, self.debouncer.debounce * (2 ** n))
            self._retry_at[h.path] = (now + delay, n + 1)
            self.state.retrying[h.path] = f"{h.status}: {h.detail}"
            if h.status == "unreadable" and n == 0:
                self._publish("unreadable", f"cannot read {h.path} ({h.detail}); will retry",
                              path=h.path)
        for h in result.skipped:
            if h.path not in self.state.skipped:
                self._publish("skipped", f"{h.path} not synced: {h.detail}", path=h.path,
                              needs_user=True)
            self.state.skipped[h.path] = f"too large ({h.detail})"
        for p in paths:
            if p not in {h.path for h in result.skipped}:
                self.state.skipped.pop(p, None)
        if result.commit:
            c = result.commit
            self.state.last_commit = c.id
            self._publish("committed", c.summary, id=c.id,
                          files=[ch.path for ch in c.changes])
            self._push_due = True
            self._next_push_try = 0.0
        self._save_state()

    def _push(self) -> None:
        try:
            pushed = self.syncer.push()
        except GitsyncError as e:
            self._push_due = True
            self._next_push_try = self.clock() + self._push_backoff
            self._push_backoff = min(RETRY_CAP_S, self._push_backoff * 2)
            if self.state.offline_since is None:
                self.state.offline_since = time.time()
                self._publish("push-failed", f"{e}", error=str(e))
            self.state.last_error = str(e)
            logger.warning("%s: push failed: %s (next try in %.0f s)", self.folder.path, e,
                           self._next_push_try - self.clock())
            self._save_state()
            return
        self._push_due = False
        self._push_backoff = 1.0
        if self.state.offline_since is not None or self.state.last_error:
            self.state.offline_since = None
            self.state.last_error = None
        if pushed:
            self.state.last_push = time.time()
            self._publish("pushed", f"pushed {pushed[:10]} to {self.folder.remote}", id=pushed)
        self._save_state()
