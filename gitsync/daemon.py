"""``gitsync run``: the foreground daemon that owns every registered folder.

It takes the per-home daemon lock, starts one :class:`FolderWorker` per folder, picks up
folders registered or forgotten while it runs (it re-reads the config when the file
changes), and on SIGINT/SIGTERM stops every worker, each committing what is pending first.

It also listens on the local channel (``state/daemon.sock``): a CLI command that writes a
folder (``sync``, ``restore``, ``resolve``) arrives there and is run by that folder's
worker, so the daemon stays the folder's one writer.

Start-up is what a user waits for after ``gitsync run``: each folder's watch and its scan
(a ``git status`` process) begin before the workers and pygit2 are imported, so the scan
runs beside the imports (:class:`EarlyStart`); the worker takes both over.

With ``web=True`` it also serves the web pages and the JSON API (:mod:`gitsync.server`) on
a thread, started after the workers and stopped before them; a web request that writes
goes through :meth:`Daemon.handle_request` like a CLI's. The server is imported only then,
so ``--no-web`` never loads the web framework.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitsync import scan
from gitsync.channel import ChannelServer
from gitsync.config import Paths, load_config
from gitsync.daemon_lock import DaemonLock
from gitsync.errors import FolderError, GitsyncError, UserError
from gitsync.events import Event, EventBus
from gitsync.sshmux import SshConnections
from gitsync.watcher import FolderWatcher, OnChange

if TYPE_CHECKING:  # imported when the workers start, see EarlyStart
    from gitsync.worker import FolderWorker

logger = logging.getLogger(__name__)

CONFIG_CHECK_S = 2.0


class AlreadyRunning(Exception):
    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.pid = pid


class NotServed(FolderError):
    """The daemon runs no worker for the folder a request names (not registered, missing,
    or failed to start); the caller may write the folder itself once it can own it."""


class EarlyStart:
    """One folder's watch and scan, begun before its worker exists.

    The watch starts first, then the scan, as the worker itself does: a change made after
    the scan read a file still arrives as an event. Events that come before the worker
    takes over are held and handed to it by :meth:`attach`.
    """

    def __init__(self, folder: Path) -> None:
        self._lock = threading.Lock()
        self._held: list[tuple[str, bool]] = []
        self._overflowed = False
        self._on_change: OnChange | None = None
        self._on_overflow: Callable[[], None] | None = None
        self.watcher: FolderWatcher | None = FolderWatcher(folder, self._change, self._overflow)
        try:
            self.watcher.start()
        except (GitsyncError, OSError) as e:  # the worker tries again and reports it
            logger.debug("%s: early watch failed: %s", folder, e)
            self.watcher = None
        self._scan: Future[list[str]] = Future()
        if self.watcher is not None:
            threading.Thread(target=self._run_scan, args=(folder,), name="early-scan",
                             daemon=True).start()

    def _run_scan(self, folder: Path) -> None:
        try:
            self._scan.set_result(scan.changed_paths(folder))
        except BaseException as e:
            self._scan.set_exception(e)

    def _change(self, relpath: str, gone: bool) -> None:
        with self._lock:
            if self._on_change is None:
                self._held.append((relpath, gone))
                return
            forward = self._on_change
        forward(relpath, gone)

    def _overflow(self) -> None:
        with self._lock:
            if self._on_overflow is None:
                self._overflowed = True
                return
            forward = self._on_overflow
        forward()

    def attach(self, on_change: OnChange, on_overflow: Callable[[], None]) -> None:
        """From now on events go to ON_CHANGE; the held ones first, in order."""
        with self._lock:
            held, self._held = self._held, []
            for relpath, gone in held:
                on_change(relpath, gone)
            if self._overflowed:
                on_overflow()
            self._on_change, self._on_overflow = on_change, on_overflow

    def scan(self) -> list[str]:
        """What ``git status`` found (waits for it); raises what the scan raised."""
        return self._scan.result()

    def stop(self) -> None:
        """For a start no worker took over (the folder failed to start)."""
        if self.watcher is not None:
            self.watcher.stop()


class Daemon:
    def __init__(self, paths: Paths, flags: Mapping[str, Any] | None = None,
                 bus: EventBus | None = None, *, web: bool = False,
                 listen: str | None = None) -> None:
        self.paths = paths
        self.web = web
        self.listen = listen
        self.login_hint = "the link 'gitsync web' prints"  # the demo prints its own link
        self._web_server: Any = None
        self._notifier: Any = None
        self._unsubscribe_notifier: Callable[[], None] | None = None
        self.flags = dict(flags or {})
        self.bus = bus or EventBus()
        self.workers: dict[str, FolderWorker] = {}
        self.stop_event = threading.Event()
        self._lock = DaemonLock(paths)
        self._config_mtime: float | None = None
        self._workers_lock = threading.RLock()
        self._channel = ChannelServer(paths.socket_file, self.handle_request)
        # One SSH connection per host, shared by every folder's transfers and ref stream.
        self.connections = SshConnections(paths.state_dir)
        self._early: dict[str, EarlyStart] = {}

    def handle_request(self, request: dict[str, Any]) -> Any:
        """Run a CLI's request on the worker that owns its folder; its encoded result."""
        from gitsync.operations import OPERATIONS

        op = OPERATIONS.get(str(request.get("op")))
        if op is None:
            raise UserError(f"unknown request {request.get('op')!r}")
        key = str(request.get("folder"))
        args = request.get("args") or {}
        if not isinstance(args, dict):
            raise UserError("request arguments must be an object")
        with self._workers_lock:
            worker = self.workers.get(key)
            if worker is None:  # registered a moment ago: start it now
                self._config_mtime = None
                self._reconcile()
                worker = self.workers.get(key)
        if worker is None:
            raise NotServed(f"the daemon does not sync {key}", path=key)
        logger.info("%s: running '%s' for a command", key, request.get("op"))
        result = worker.call(lambda parts: op.run(parts, **args)).result()
        return op.encode(result)

    def _reconcile(self) -> None:
        with self._workers_lock:
            self._reconcile_locked()

    def _start_early(self) -> None:
        """Watch and scan every folder before the workers (and pygit2) are imported."""
        try:
            config = load_config(self.paths)
        except GitsyncError:
            return  # _reconcile logs the broken config
        for key, fc in config.folders.items():
            if fc.path.is_dir():
                self._early[key] = EarlyStart(fc.path)

    def _reconcile_locked(self) -> None:
        from gitsync.worker import FolderWorker

        try:
            mtime = self.paths.config_file.stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime == self._config_mtime:
            return
        self._config_mtime = mtime
        try:
            config = load_config(self.paths)
        except GitsyncError as e:
            logger.error("%s; keeping the folders already running", e)
            return
        for key in list(self.workers):
            if key not in config.folders:
                logger.info("%s: no longer synced, stopping its worker", key)
                self.workers.pop(key).stop()
        for key, fc in config.folders.items():
            if key in self.workers:
                continue
            if not fc.path.is_dir():
                logger.error("%s: folder is missing; restore it or run 'gitsync forget %s'",
                             key, key)
                self.bus.publish(Event("error", key, "folder is missing", needs_user=True))
                continue
            early = self._early.pop(key, None)
            try:
                worker = FolderWorker(fc, config.effective(fc, self.flags), self.paths,
                                      self.bus, connections=self.connections,
                                      early=early)
                worker.start()
            except (GitsyncError, OSError) as e:
                if early is not None:
                    early.stop()
                logger.error("%s: cannot start: %s", key, e)
                continue
            self.workers[key] = worker
            logger.info("%s: starting (device %s, remote %s)", key, fc.device, fc.remote)

    def run(self, *, install_signals: bool = True,
            on_ready: Callable[[], None] | None = None) -> None:
        """Block until stopped. Raises :class:`AlreadyRunning` if this home has a daemon."""
        other = self._lock.acquire()
        if other is not None:
            raise AlreadyRunning(other)
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        try:
            self._start_early()
            self._start_notifier()  # before the workers, so their first round is told
            self._reconcile()
            for early in self._early.values():  # folders that went away meanwhile
                early.stop()
            self._early.clear()
            try:
                self._channel.start()
            except OSError as e:
                logger.error("cannot listen on %s (%s): commands that write a folder will "
                             "wait for this daemon to stop", self.paths.socket_file, e)
            if not self.workers:
                logger.warning("no synced folders yet; register one with 'gitsync init DIR'")
            if self.web:
                self._start_web()
            if on_ready:
                on_ready()
            while not self.stop_event.wait(CONFIG_CHECK_S):
                self._reconcile()
        finally:
            for early in self._early.values():
                early.stop()
            self._early.clear()
            self._stop_web()
            self._channel.stop()
            logger.info("stopping: committing pending changes")
            with self._workers_lock:
                for worker in self.workers.values():
                    worker.stop()
                self.workers.clear()
            self.connections.close()  # after the workers' last pushes
            self._stop_notifier()
            self._lock.release()
            logger.info("stopped")

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def web_port(self) -> int | None:
        """The port the web pages answer on, or None when they are off or failed to start."""
        return self._web_server.port if self._web_server is not None else None

    def _start_web(self) -> None:
        from gitsync.server.runner import start_web

        try:
            port = int(load_config(self.paths).effective(None, self.flags)["port"])
        except GitsyncError as e:
            logger.error("web: %s; syncing goes on without the web pages", e)
            return
        try:
            self._web_server = start_web(self.paths, self.bus, self.handle_request, port=port,
                                         listen=self.listen, login_hint=self.login_hint)
        except Exception:  # the pages are an extra: syncing never stops for them
            logger.exception("web: cannot start; syncing goes on without the web pages")

    def _start_notifier(self) -> None:
        try:
            settings = load_config(self.paths).effective(None, self.flags)
        except GitsyncError:
            return  # _reconcile logs the broken config
        if not settings["notify"]:
            return
        from gitsync.desktop import Notifier
        from gitsync.notices import Notices

        self._notifier = Notifier(Notices(port=int(settings["port"]),
                                          offline_after=float(settings["notify_offline_after"])))
        self._notifier.start()
        self._unsubscribe_notifier = self.bus.subscribe(self._notifier)

    def _stop_notifier(self) -> None:
        if self._unsubscribe_notifier is not None:
            self._unsubscribe_notifier()
            self._unsubscribe_notifier = None
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None

    def _stop_web(self) -> None:
        if self._web_server is not None:
            from gitsync.server.runner import stop_web

            stop_web(self.paths, self._web_server)
            self._web_server = None
