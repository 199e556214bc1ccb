"""One owner per folder: every write to a folder's repo goes through its worker's thread.

Watcher events, timers, rescans and sync requests are messages on one queue served by one
thread, so no two writers ever race on the same repository inside the daemon. Time comes
from an injectable clock. The worker publishes events and keeps a small JSON state file
(``state_dir/folders/<key>.json``) that ``gitsync status`` reads from another process.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from gitsync.backoff import Backoff
from gitsync.config import FolderConfig, Paths, folder_key
from gitsync.debounce import Debouncer
from gitsync.errors import (
    FolderError,
    GitsyncError,
    HistoryDivergedError,
    LockedError,
    RepoError,
)
from gitsync.events import Event, EventBus
from gitsync.folderstate import USER_PAUSE_REASON, FolderState, is_paused, write_state
from gitsync.ignore import exclude_patterns
from gitsync.memory import release_free_memory
from gitsync.model import CommitInfo
from gitsync.netwatch import network_fingerprint
from gitsync.owner import FolderOwner
from gitsync.refstream import RemoteRefStream
from gitsync.remoteurl import RemoteKind, parse_url
from gitsync.repo import Entry
from gitsync.round import FolderParts, run_round
from gitsync.sshmux import SshConnections
from gitsync.sync import SyncOutcome
from gitsync.upkeep import Upkeep
from gitsync.wakeup import WakeDetector
from gitsync.watcher import FolderWatcher, OnChange, RefWatcher, WatchLimitError
from gitsync.worktree import UnsafePathError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
RETRY_CAP_S = 60.0
WAITING_CHECK_S = 1.0  # how often a file waiting for its editor to close is looked at
SCAN_WITHOUT_WATCH_S = 10.0  # scan interval for a folder the kernel refuses to watch
LOCAL_RETRY_S = 2.0  # a round that failed on a local write (a full disk) goes again after
Call = Callable[[FolderParts], Any]


class Prestarted(Protocol):
    """A folder's watch and scan begun before its worker existed (the daemon begins them
    while the rest of gitsync is imported); the worker takes both over."""

    watcher: FolderWatcher | None  # started; None when it could not be

    def attach(self, on_change: OnChange, on_overflow: Callable[[], None]) -> None: ...

    def scan(self) -> list[str]: ...


class FolderWorker:
    """Owns one folder: holds its owner lock and serves one queue on one thread.

    Messages: watcher events, rescans, "the remote moved", and calls (operations the CLI or
    the web server asked for, see :mod:`gitsync.operations`), each run in turn.
    """

    def __init__(
        self,
        folder: FolderConfig,
        settings: dict[str, Any],
        paths: Paths,
        bus: EventBus,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        network: Callable[[], str | None] = network_fingerprint,
        watch: bool = True,
        connections: SshConnections | None = None,
        early: Prestarted | None = None,
    ) -> None:
        self.folder = folder
        self.settings = settings
        self.paths = paths
        self.bus = bus
        self.clock = clock
        self.wall_clock = wall_clock
        self._wake = WakeDetector()
        self._network = network
        self._network_seen: str | None = None
        self.parts = FolderParts.build(folder, settings, own_write=self._own_write)
        self.state_file = paths.folder_state_file(folder_key(folder.path))
        self.parts.state_file = self.state_file
        self._user_paused = is_paused(self.state_file)
        self.repo = self.parts.repo
        self.committer = self.parts.committer
        self.syncer = self.parts.syncer
        self._connections = connections  # the daemon's, shared by every folder; it closes them
        self.syncer.transport.connections = connections
        self.owner = FolderOwner(self.repo.gitdir)
        # Packs the repository while idle; a look that ends wakes the queue (an ignored
        # message) so that _tick hears of it.
        self.upkeep = Upkeep(self.repo.workdir, self.repo.gitdir,
                             on_done=lambda: self._queue.put(("upkeep", None)))
        self.debouncer = Debouncer(settings["debounce"], settings["max_batch_delay"],
                                   settings["delete_delay"])
        self.state = FolderState()
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        # Messages taken in during a round (see _commit_settled) but served after it.
        self._deferred: list[tuple[str, Any]] = []
        self.syncer.meanwhile = self._commit_settled
        self._stopping = threading.Event()
        self._rescan_lock = threading.Lock()
        self._rescan_queued = False
        self._retry_at: dict[str, tuple[float, Backoff]] = {}
        self._thread = threading.Thread(target=self._run, name=f"worker:{folder.path.name}")
        self._early_scan: Callable[[], list[str]] | None = None
        self._watching = False
        if watch and early is not None and early.watcher is not None:
            self._watcher: FolderWatcher | None = early.watcher
            early.attach(self._on_fs_event, self.request_rescan)
            self._watching = True
            self._early_scan = early.scan
        else:
            self._watcher = (FolderWatcher(folder.path, self._on_fs_event, self.request_rescan)
                             if watch else None)
        self._sync_due = False
        self._next_sync_try = 0.0
        self._sync_backoff = Backoff(1.0, RETRY_CAP_S)
        self._next_poll = 0.0
        self._next_waiting_check = 0.0
        self._scan_every: float | None = None  # set when the kernel refuses the watch
        self._next_scan = 0.0
        self._own: dict[str, tuple[str | None, float]] = {}
        self._state_unwritable = False
        hub = Path(folder.remote)
        self._hub_watcher = (RefWatcher(hub, folder.branch, self.request_remote_check)
                             if watch and hub.is_absolute() and (hub / "refs").is_dir()
                             else None)
        self._ref_stream = self._make_ref_stream() if watch and not self._hub_watcher else None

    # ------------------------------------------------------------- called from other threads
    def _make_ref_stream(self) -> RemoteRefStream | None:
        """A live stream of the remote's ref changes, for SSH remotes (see refstream)."""
        try:
            if parse_url(self.folder.remote).kind is not RemoteKind.SSH:
                return None
        except GitsyncError:
            return None
        env = {}
        ssh = self.repo.config_value("core.sshCommand")
        if ssh and not os.environ.get("GIT_SSH_COMMAND"):
            env["GIT_SSH_COMMAND"] = ssh
        return RemoteRefStream(self.folder.remote, self.folder.branch,
                               self.request_remote_check,
                               remote_command=str(self.settings["remote_gitsync"]), env=env,
                               connections=self._connections)

    def start(self) -> None:
        self._start_watching()
        if self._hub_watcher:
            self._hub_watcher.start()
        if self._ref_stream:
            self._ref_stream.start()
        self._thread.start()

    def _start_watching(self) -> None:
        if self._watcher and not self._watching:
            try:
                self._watcher.start()
            except WatchLimitError as e:
                # Never miss a change silently: say so once, then scan the folder on a timer.
                self._watcher = None
                self._scan_every = SCAN_WITHOUT_WATCH_S
                self.state.polling_every = SCAN_WITHOUT_WATCH_S
                logger.error("%s: %s; until then gitsync scans this folder every %.0f s",
                             self.folder.path, e, SCAN_WITHOUT_WATCH_S)
                self._publish("error", f"{e}; scanning every {SCAN_WITHOUT_WATCH_S:.0f} s",
                              needs_user=True)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is pending, try one last push, then stop."""
        self._stopping.set()
        self.upkeep.stop()
        if self._hub_watcher:
            self._hub_watcher.stop()
        if self._ref_stream:
            self._ref_stream.stop()
        if self._watcher:
            self._watcher.stop()
        self._queue.put(("stop", None))
        self._thread.join(timeout)

    def request_rescan(self) -> None:
        """Scan the whole folder soon. Requests that pile up while one waits are one scan:
        a storm of kernel overflow reports must not become a storm of scans."""
        with self._rescan_lock:
            if self._rescan_queued:
                return
            self._rescan_queued = True
        self._queue.put(("rescan", None))

    def request_remote_check(self) -> None:
        """The remote's branch may have moved (a local hub's ref changed): sync now."""
        self._queue.put(("remote", None))

    def call(self, fn: Call) -> Future[Any]:
        """Run FN(parts) on the owner thread, after committing what is pending; the future
        holds its result or its exception."""
        future: Future[Any] = Future()
        self._queue.put(("call", (fn, future)))
        return future

    def _on_fs_event(self, relpath: str, gone: bool) -> None:
        # Stamped on arrival: the quiet time a save needs counts from the write, even when
        # the owner thread is busy (a push, an index write) when the event comes in.
        self._queue.put(("fs", (relpath, gone, self.clock())))

    # ------------------------------------------------------------- driving by hand
    def open(self) -> bool:
        """Own the folder and do the start-up work on the caller's thread, for a worker
        that is driven with :meth:`run_pending` instead of started (tests, fake clocks)."""
        if not self.owner.try_acquire():
            return False
        self._startup()
        return True

    def run_pending(self) -> None:
        """Serve every queued message, then do what the clock says is due."""
        while True:
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                break
            if msg[0] != "stop":
                self._handle(msg)
        self._tick()

    def close(self) -> None:
        """Commit what is pending and let go of the folder (the end of :meth:`open`)."""
        try:
            self._flush()
        finally:
            self.upkeep.stop()
            self._fail_calls()
            self.owner.release()

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
            # Once until it works again: on a full disk it fails at every step of a round.
            if not self._state_unwritable:
                logger.warning("could not write state file %s: %s", self.state_file, e)
            self._state_unwritable = True
            return
        if self._state_unwritable:
            logger.info("state file %s written again", self.state_file)
            self._state_unwritable = False

    def _run(self) -> None:
        try:
            if not self._own_folder():
                return
            self._startup()
            while True:
                msg = self._next_message()
                batch = [msg, *self._queued()] if msg is not None else []
                stop = next((i for i, m in enumerate(batch) if m[0] == "stop"), None)
                if stop is not None:
                    for m in batch[stop + 1:]:  # answered by _fail_calls
                        self._queue.put(m)
                    batch = batch[:stop]
                for m in batch:
                    self._handle(m)
                if stop is not None:
                    self._flush()
                    break
                self._tick()
        except Exception as e:  # a bug: report it, don't take the daemon down silently
            logger.exception("worker for %s stopped on an unexpected error", self.folder.path)
            self.state.state, self.state.last_error = "error", f"internal error: {e}"
            self._publish("error", f"stopped on an internal error: {e}", needs_user=True)
        finally:
            self.upkeep.stop()
            self.state.state = "stopped"
            self._save_state()
            self._fail_calls()
            self.owner.release()

    def _queued(self, limit: int = 10_000) -> list[tuple[str, Any]]:
        """Every message waiting now. What queued up while the owner was busy is taken in
        before the next tick decides what is due: saves are stamped on arrival, so one by
        one each would look settled alone and make a commit of its own."""
        out, self._deferred = self._deferred, []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def _own_folder(self) -> bool:
        """Take the folder's owner lock, waiting while a CLI command finishes its write."""
        if self.owner.try_acquire():
            return True
        logger.info("%s: waiting for another gitsync process (pid %s) to finish writing",
                    self.folder.path, self.owner.holder_pid())
        return self.owner.acquire(stop=self._stopping.is_set)

    def _fail_calls(self) -> None:
        """Calls still queued when the worker stops get an answer, not a hang."""
        for m in self._deferred:
            self._queue.put(m)
        self._deferred = []
        while True:
            try:
                kind, arg = self._queue.get_nowait()
            except queue.Empty:
                return
            if kind == "call":
                arg[1].set_exception(FolderError(
                    f"{self.folder.path} stopped syncing before the request ran",
                    path=str(self.folder.path), hint="try again"))

    def _next_message(self) -> tuple[str, Any] | None:
        if self._deferred:
            return self._deferred.pop(0)
        deadline = self.debouncer.next_deadline()
        timeouts = [1.0 if self.state.state == "paused" else 30.0]
        if deadline is not None:
            timeouts.append(deadline - self.clock())
        if self._retry_at:
            timeouts.append(min(t for t, _ in self._retry_at.values()) - self.clock())
        if self._sync_due:
            timeouts.append(self._next_sync_try - self.clock())
        if self.state.sync_stopped is None:
            timeouts.append(self._next_poll - self.clock())
        if self.state.waiting:
            timeouts.append(self._next_waiting_check - self.clock())
        if self._scan_every is not None:
            timeouts.append(self._next_scan - self.clock())
        upkeep_at = self.upkeep.next_deadline() if self.state.reason is None else None
        if upkeep_at is not None:
            timeouts.append(upkeep_at - self.clock())
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
        # Before the scan: files waiting for their editor hold old content that is no edit.
        self.state.waiting = self.parts.waiting.reasons()
        early_scan, self._early_scan = self._early_scan, None
        if not self._check_pause():
            self._full_scan(early_scan)
        self.state.state = "paused" if self.state.reason else "watching"
        self._sync_due = True
        self._save_state()
        if self.state.state == "watching":
            logger.info("%s: watching (scan done)", self.folder.path)
        # The first save after start-up must not pay for what libgit2 and the index load
        # lazily (attributes, the diff machinery, 100,000 index entries): load them now.
        self.repo.warm_up()

    def _pause_reason(self) -> str | None:
        """Why nothing may be committed or synced now: the user's own git operation in
        the folder, or their pause (the flag is re-read after each call; see _run_call)."""
        return self.repo.pause_reason() or (USER_PAUSE_REASON if self._user_paused else None)

    def _check_pause(self) -> bool:
        reason = self._pause_reason()
        if reason != self.state.reason:
            self.state.reason = reason
            if reason:
                self.state.state = "paused"
                logger.warning("%s: paused, %s", self.folder.path, reason)
                self._publish("paused", f"paused: {reason}",
                              needs_user=reason != USER_PAUSE_REASON, reason=reason)
            else:
                self.state.state = "watching"
                logger.info("%s: resumed", self.folder.path)
                self._publish("resumed", "resumed")
                self._full_scan()
                self._sync_due, self._next_sync_try = True, 0.0
            self._save_state()
        return reason is not None

    def _full_scan(self, found: Callable[[], list[str]] | None = None) -> None:
        """Commit every change in the folder; FOUND: a scan begun earlier (at start-up,
        after the watch began), else one now."""
        try:
            scanned = found() if found is not None else self.repo.changed_paths()
            changed = [p for p in scanned if self.committer.wanted(p)]
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
            relpath, gone, when = arg
            if self.committer.ignore.matches(relpath) or self._is_own_write(relpath):
                return
            if gone and not self._in_head(relpath):
                # Nothing to delete (a temp file renamed over a document, as LibreOffice's
                # lu*.tmp is, or a file made and removed between two commits): holding it
                # back as a delete would hold back the whole batch for delete_delay.
                gone = False
            self.debouncer.touch(relpath, min(when, now), deleted=gone)
        elif kind == "rescan":
            with self._rescan_lock:
                self._rescan_queued = False
            self._full_scan()
        elif kind == "remote":
            if not self._remote_tip_known():
                self._sync_due, self._next_sync_try = True, 0.0
        elif kind == "call":
            fn, future = arg
            self._run_call(fn, future)

    def _in_head(self, path: str) -> bool:
        """Whether PATH is a file or folder in the last commit (on doubt: yes)."""
        try:
            head = self.repo.head_id()
            return head is not None and (self.repo.entry_at(head, path) is not None
                                         or self.repo.is_dir_at(head, path))
        except Exception:  # an unreadable repository: keep the delete's hold-back
            return True

    def _commit_settled(self) -> None:
        """Between two tries of a round whose push was refused: take in the saves made so
        far and commit those that settled. A round that keeps losing the race to other
        devices can last seconds, and a version saved and replaced meanwhile was lost."""
        for m in self._queued():
            if m[0] == "fs":
                self._handle(m)
            else:
                self._deferred.append(m)
        due = self.debouncer.due(self.clock())
        if due:
            self._commit(due)

    def _remote_tip_known(self) -> bool:
        """Whether the live stream announced a tip this folder already has: the echo of its
        own push, which would cost a fetch (an SSH session) for nothing."""
        tip = self._ref_stream.tip if self._ref_stream else None
        return tip is not None and tip == self.repo.ref_target(self.syncer.tracking_ref)

    def _run_call(self, fn: Call, future: Future[Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        head = self.repo.head_id()
        try:
            self._flush()
            result = fn(self.parts)
        except BaseException as e:
            future.set_exception(e)
        else:
            future.set_result(result)
        self._user_paused = is_paused(self.state_file)
        new_head = self.repo.head_id()
        if new_head != head:
            self.state.last_commit = new_head
            if new_head != self.repo.ref_target(self.syncer.tracking_ref):
                self._sync_due, self._next_sync_try = True, 0.0
            self._save_state()

    def _tick(self) -> None:
        now = self.clock()
        if self._wake.woke(now, self.wall_clock()):
            # Saves made just before the sleep, and a remote that moved meanwhile: look now,
            # not when a backoff counted before the sleep runs out.
            logger.info("%s: the machine woke up; scanning and syncing now", self.folder.path)
            self._sync_backoff.reset()
            self._sync_due, self._next_sync_try = True, 0.0
            self._full_scan()
        if self._check_pause():
            return
        due = self.debouncer.due(now)
        ready = [p for p, (t, _b) in self._retry_at.items() if t <= now]
        if due or ready:
            self._commit(sorted(set(due) | set(ready)))
        if self.state.offline_since is not None and self._sync_due:
            seen = self._network()
            if seen != self._network_seen and self._network_seen is not None:
                logger.info("%s: the network changed; trying the remote now",
                            self.folder.path)
                self._sync_backoff.reset()
                self._next_sync_try = 0.0
            self._network_seen = seen
        else:
            self._network_seen = None
        if self._scan_every is not None and now >= self._next_scan:
            self._next_scan = now + self._scan_every
            self._full_scan()
        if self.state.waiting and now >= self._next_waiting_check:
            self._next_waiting_check = now + WAITING_CHECK_S
            self._retry_waiting()
        if self.state.sync_stopped is None and not self._sync_due and now >= self._next_poll:
            self._next_poll = now + self._poll_interval()
            try:
                if self.syncer.remote_moved():
                    self._sync_due, self._next_sync_try = True, 0.0
            except GitsyncError as e:
                self._went_offline(e)
        if self._sync_due and now >= self._next_sync_try:
            self._sync()
        self._write_index()
        # Packing runs beside the worker (saves are still committed), but not amid a burst
        # of saves or just before a round. Retries (a file that stays unreadable, an offline
        # remote) may last for hours: they do not count as work.
        self.upkeep.tick(self.clock(), idle=not self.debouncer.paths
                         and not (self._sync_due and self.state.offline_since is None))

    def _flush(self) -> None:
        """Commit everything pending now, settled or not (on stop and before a call)."""
        todo = set(self.debouncer.paths) | set(self._retry_at)
        self.debouncer.clear()
        if todo:
            self._commit(sorted(todo))
        self._write_index()

    def _write_index(self) -> None:
        try:
            self.repo.flush_index()
        except (GitsyncError, OSError) as e:  # a user's git holds the lock, a full disk
            logger.debug("%s: index not written yet: %s", self.folder.path, e)

    def _commit(self, paths: list[str], *, whole_tree: bool = False) -> None:
        if self._pause_reason():
            self.debouncer.requeue(paths, self.clock())
            return
        held: set[str] = set()
        if self.state.waiting:  # both read the waiting file: skip it when nothing waits
            held = self.parts.waiting.held(paths) | set(self._absorb(paths))
        if held:
            paths = [p for p in paths if p not in held]
            whole_tree = False
            if not paths:
                return
        try:
            # The index is written after the round that pushes this commit (see _tick).
            result = self.committer.commit(paths, whole_tree=whole_tree, defer_index=True)
        except LockedError as e:
            logger.warning("%s: %s", self.folder.path, e)
            self.debouncer.requeue(paths, self.clock())
            return
        except (GitsyncError, OSError) as e:  # OSError: the disk is full or failing
            self.state.last_error = str(e)
            logger.warning("%s: commit failed: %s; will retry", self.folder.path, e)
            self.debouncer.requeue(paths, self.clock())
            self._save_state()
            return
        now = self.clock()
        retry = {h.path for h in result.retry}
        skipped = {h.path for h in result.skipped}
        for p in paths:
            if p not in retry:
                self._retry_at.pop(p, None)
                self.state.retrying.pop(p, None)
        for h in result.retry:
            known = self._retry_at.get(h.path)
            backoff = known[1] if known else Backoff(self.debouncer.debounce, RETRY_CAP_S)
            first = backoff.failures == 0
            self._retry_at[h.path] = (now + backoff.next_delay(), backoff)
            self.state.retrying[h.path] = f"{h.status}: {h.detail}"
            if h.status == "disk-full" and first:
                self._publish("error", f"the disk is full: {h.path} waits to be committed; "
                              "free some space and it is committed at once",
                              path=h.path, needs_user=True)
            if h.status == "unreadable" and first:
                self._publish("unreadable", f"cannot read {h.path} ({h.detail}); will retry",
                              path=h.path)
        for h in result.skipped:
            if h.path not in self.state.skipped:
                self._publish("skipped", f"{h.path} not synced: {h.detail}", path=h.path,
                              needs_user=True)
            self.state.skipped[h.path] = f"too large ({h.detail})"
        for p in paths:
            if p not in skipped:
                self.state.skipped.pop(p, None)
        if result.commit:
            self._committed(result.commit)
            self._sync_due = True
            if self.state.offline_since is None:
                # Offline, the backoff's next try pushes it: a try per save would double
                # the delay per save, and a busy folder would wait out the cap once back.
                self._next_sync_try = 0.0
        self._save_state()

    def _committed(self, c: CommitInfo) -> None:
        self.state.last_commit = c.id
        self._publish("committed", c.summary, id=c.id, files=[ch.path for ch in c.changes])

    # ------------------------------------------------------------- syncing
    def _poll_interval(self) -> float:
        # A remote whose ref changes are watched (a local hub) or streamed (an SSH host with
        # gitsync) is polled only as a safety net.
        poll = float(self.settings["poll"])
        watched = self._hub_watcher is not None or (
            self._ref_stream is not None and self._ref_stream.connected)
        return max(poll, 60.0) if watched else poll

    def _own_write(self, path: str, entry: Entry | None) -> None:
        self._own[path] = (entry.oid if entry else None, self.clock())

    def _is_own_write(self, path: str) -> bool:
        """An event caused by the worker's own write of an incoming change, not a user edit."""
        own = self._own.get(path)
        if own is None:
            return False
        oid, when = own
        if self.clock() - when > 10.0:
            del self._own[path]
            return False
        try:
            disk = self.repo.disk_entry(path)
        except OSError:
            return False
        if (disk.oid if disk else None) == oid:
            return True
        # The user changed the file since: from now on every event on it is theirs. Kept,
        # the entry would swallow their delete of a file whose incoming delete the worker
        # wrote a few seconds before (the disk is "gone" both times).
        del self._own[path]
        return False

    def _went_offline(self, e: GitsyncError) -> None:
        self._sync_due = True
        self._next_sync_try = self.clock() + self._sync_backoff.next_delay()
        if self.state.offline_since is None:
            self.state.offline_since = time.time()
            self._publish("offline", f"{e}", error=str(e))
        self.state.last_error = str(e)
        logger.warning("%s: sync failed: %s (next try in %.0f s)", self.folder.path, e,
                       self._next_sync_try - self.clock())
        self._save_state()

    def _sync(self) -> None:
        if self.state.sync_stopped is not None or self._pause_reason():
            self._sync_due = False
            return
        try:
            # Saves are committed by the debouncer; the round only syncs what is committed.
            result = run_round(self.parts, pending=())
        except (HistoryDivergedError, UnsafePathError) as e:
            self._sync_due = False
            self.state.sync_stopped = str(e)
            self.state.last_error = str(e)
            self.state.state = "error"
            logger.error("%s: %s", self.folder.path, e)
            self._publish("sync-stopped", str(e), needs_user=True)
            self._save_state()
            return
        except LockedError as e:
            self._sync_due, self._next_sync_try = True, self.clock() + 1.0
            logger.warning("%s: %s", self.folder.path, e)
            return
        except (RepoError, OSError) as e:  # a local write failed (a full disk): not offline
            self._sync_due, self._next_sync_try = True, self.clock() + LOCAL_RETRY_S
            self.state.last_error = str(e)
            logger.warning("%s: sync failed: %s; will retry in %g s", self.folder.path, e,
                           LOCAL_RETRY_S)
            self._save_state()
            return
        except GitsyncError as e:
            self._went_offline(e)
            return
        self._sync_due = False
        self._sync_backoff.reset()
        self._next_poll = self.clock() + self._poll_interval()
        if self.state.offline_since is not None:
            self._publish("online", f"reconnected to {self.folder.remote}")
        self.state.offline_since = None
        self.state.last_error = None
        self.state.last_sync = time.time()
        self._absorbed(result.absorbed)
        self._waiting_written(result.written)
        self.state.waiting = {p: why for p, why in self.state.waiting.items()
                              if p not in result.written}
        self._report(result.outcome)
        self._save_state()
        if result.outcome.action == "merged":
            # A merge (lxml trees for a .docx) allocates most of a round's memory at once;
            # once it is freed, give the pages back instead of leaving holes in the heap.
            release_free_memory()

    def _report(self, out: SyncOutcome) -> None:
        for saved in out.committed:
            self._committed(saved)
        who = out.theirs_device or "remote"
        if out.action in ("fast-forward", "initial", "merged"):
            files = out.written + out.removed
            logger.info("%s: %s %d file(s) from %s", self.folder.path,
                        "merged" if out.action == "merged" else "received", len(files), who)
            self._publish("received" if out.action != "merged" else "merged",
                          f"{len(files)} file(s) updated from {who}", files=files,
                          id=out.head, merged=out.merged_paths)
            self.state.last_commit = out.head
        for c in out.conflicts:
            where = f"; the other version is {c.copy_path}" if c.copy_path else \
                "; the other side's changes are tracked changes in the document"
            self._publish("conflict", f"{c.path}: edited on {who} too{where}",
                          needs_user=True, conflict=c.to_json())
        for note in out.notes:
            self._publish("note", note)
        for p, why in out.waiting.items():
            self._publish("waiting", f"{p}: incoming change waits, {why}", path=p)
        if out.waiting:
            self.state.waiting.update(out.waiting)
        if out.pushed:
            self.state.last_push = time.time()
            self._publish("pushed", f"pushed {out.pushed[:10]} to {self.folder.remote}",
                          id=out.pushed)

    def _absorb(self, paths: list[str]) -> list[str]:
        try:
            done = self.parts.waiting.absorb(paths)
        except GitsyncError as e:
            logger.warning("%s: %s", self.folder.path, e)
            return []
        self._absorbed(done)
        if done:
            self._sync_due, self._next_sync_try = True, 0.0
        return done

    def _absorbed(self, done: list[str]) -> None:
        for p in done:
            self._publish("committed", f"{p}: saved while an incoming change waited; merged",
                          files=[p])

    def _waiting_written(self, written: list[str]) -> None:
        for p in written:
            self._publish("received", f"{p}: updated now that it is closed", files=[p])

    def _retry_waiting(self) -> None:
        try:
            written, still = self.parts.waiting.retry()
        except GitsyncError as e:
            logger.warning("%s: %s", self.folder.path, e)
            return
        self.state.waiting = still
        self._waiting_written(written)
        if written:
            self._save_state()
