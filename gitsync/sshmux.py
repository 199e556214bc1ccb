"""One shared SSH connection per host for a running daemon (OpenSSH connection sharing).

Without it every fetch, push and poll of an SSH remote opens its own connection: a TCP
connect, a key exchange and a login, often half a second or more, paid twice on the way
from a save on one device to the other device's disk (the push, then the fetch). With
OpenSSH's ``ControlMaster=auto`` the first ssh becomes the master and keeps the connection
open in the background (``ControlPersist``); later ones ask it for a new session over the
same connection through a Unix socket, the control path, which costs a few milliseconds.

What :class:`SshConnections` promises:

* Only where gitsync builds the ssh command itself (:data:`gitsync.transport.DEFAULT_SSH_COMMAND`).
  A user's own ``GIT_SSH_COMMAND``, ``GIT_SSH`` or ``core.sshCommand`` is used exactly as
  written; whoever wants sharing there adds ``ControlMaster`` to it or to ``~/.ssh/config``.
* The control sockets are private: they live in ``STATE_DIR/ssh`` (mode 0700), named by a
  hash of the remote's user, host and port so the path stays short (a Unix socket path has
  room for only about 104 bytes, and ssh adds 17 while it creates one). When the state
  directory's path is too long, a directory of our own (0700, checked to be ours) in the
  temporary directory is used; when that is not possible either, ssh runs unshared.
* They end with the daemon: :meth:`close` asks each master to exit (``ssh -O exit``). A
  daemon that was killed leaves a master that exits once idle for :data:`PERSIST` seconds.
* A dead master never blocks a transfer: ssh removes a control socket nobody answers on and
  connects afresh (``ControlMaster=auto``); a master whose connection died without a word
  (a network cut) notices within ``ServerAliveInterval`` x ``ServerAliveCountMax`` seconds
  and exits, and the next transfer makes a new one.
* Two transfers starting together do not open two connections: while no master answers
  for a host, uses take turns (:meth:`hold`), so the first one becomes the master.

Not on Windows, whose OpenSSH has no connection sharing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gitsync.remoteurl import RemoteUrl

__all__ = ["PERSIST", "SshConnections"]

logger = logging.getLogger(__name__)

#: Seconds a master with no session left stays up (covers the gap between two transfers
#: while no live ref stream holds a session open; bounds a master a killed daemon left).
PERSIST = 60
#: A master that heard nothing from the server for 3 x 10 s presumes the connection dead.
_ALIVE_INTERVAL = 10
_ALIVE_COUNT = 3
# Room in a Unix socket path (sun_path: 104 bytes on macOS and the BSDs, 108 on Linux, with
# the final NUL), less the ".XXXXXXXXXXXXXXXX" ssh appends while it creates the socket.
_SOCKET_PATH_MAX = 103 - 17
_NAME_LEN = 16  # hex digits of the socket's name: unique per host, and short
_HOLD_TIMEOUT = 30.0  # s: the longest a use waits for another to finish becoming the master
_HOLD_POLL = 0.05  # s between looks for the master while another use holds the turn
_EXIT_TIMEOUT = 10.0  # s for `ssh -O exit`


class SshConnections:
    """The shared SSH connections of one daemon, one per remote host.

    ``state_dir`` is the gitsync home's state directory; ``ssh`` the program that runs the
    default ssh command (used to ask masters to exit).
    """

    def __init__(self, state_dir: Path, *, ssh: str = "ssh") -> None:
        self.state_dir = Path(state_dir)
        self.ssh = ssh
        self._lock = threading.Lock()
        self._dir: Path | None = None
        self._dir_checked = False
        self._closed = False
        self._used: set[Path] = set()
        self._starting: dict[Path, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        """Whether ssh can share connections here (a private control directory exists)."""
        return self._control_dir() is not None

    @property
    def directory(self) -> Path | None:
        """Where the control sockets live: ``STATE_DIR/ssh``, or a short private directory
        in the temporary directory when that path is too long for a socket."""
        return self._control_dir()

    def control_path(self, url: RemoteUrl) -> Path | None:
        """The control socket for ``url``'s host, or None when sharing is off."""
        directory = self._control_dir()
        if directory is None or not url.host:
            return None
        key = f"{url.user or ''}\0{url.host}\0{url.port or ''}".encode()
        return directory / hashlib.sha256(key).hexdigest()[:_NAME_LEN]

    def options(self, url: RemoteUrl) -> list[str]:
        """The ssh arguments that share one connection to ``url``'s host; [] when off."""
        path = self.control_path(url)
        if path is None:
            return []
        with self._lock:
            if self._closed:
                return []
            self._used.add(path)
        # ssh expands %-tokens in the path; a literal % in the state dir must stay one.
        escaped = str(path).replace("%", "%%")
        return ["-o", "ControlMaster=auto", "-o", f"ControlPath={escaped}",
                "-o", f"ControlPersist={PERSIST}",
                "-o", f"ServerAliveInterval={_ALIVE_INTERVAL}",
                "-o", f"ServerAliveCountMax={_ALIVE_COUNT}"]

    def hold(self, url: RemoteUrl, *, give_up: Callable[[], bool] = lambda: False
             ) -> Callable[[], None]:
        """Take a turn at becoming ``url``'s master, if none answers yet; returns the release.

        Call it before starting ssh with :meth:`options`, and the release once that ssh is
        connected (a transfer: when it is done; a long session: when it is ready) or has
        failed. While a master answers this returns at once, and a use waiting for its turn
        goes ahead as soon as one does, or when ``give_up()`` says so (its owner is
        stopping). Releasing twice is harmless.
        """
        path = self.control_path(url)
        if path is None or _answers(path):
            return _nothing
        with self._lock:
            turn = self._starting.setdefault(path, threading.Lock())
        deadline = time.monotonic() + _HOLD_TIMEOUT
        while not turn.acquire(timeout=_HOLD_POLL):
            # Whoever holds the turn may keep it past the moment its master is up (a stream
            # until its host answers); one that is stuck connecting is not waited out.
            if give_up() or _answers(path) or time.monotonic() > deadline:
                return _nothing
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                turn.release()

        return release

    def close(self) -> None:
        """Ask every master this daemon used to exit; their sockets are gone afterwards.

        Called when the daemon stops, after its last transfer. Later :meth:`options` calls
        return [] so nothing starts a new master behind it.
        """
        with self._lock:
            self._closed = True
            used, self._used = sorted(self._used), set()
        for path in used:
            if not path.exists():
                continue
            if _answers(path):
                self._exit_master(path)
            deadline = time.monotonic() + 2.0
            while path.exists() and _answers(path) and time.monotonic() < deadline:
                time.sleep(0.02)
            if path.exists() and not _answers(path):
                with contextlib.suppress(OSError):
                    path.unlink()  # a socket a killed master left behind
        if self._dir is not None and self._dir.parent != self.state_dir:
            with contextlib.suppress(OSError):
                self._dir.rmdir()  # our directory in the temporary directory, now empty

    def _exit_master(self, path: Path) -> None:
        escaped = str(path).replace("%", "%%")
        try:
            result = subprocess.run(
                [self.ssh, "-o", f"ControlPath={escaped}", "-O", "exit", "gitsync-master"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=_EXIT_TIMEOUT,
                start_new_session=True,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            logger.warning("could not close the shared ssh connection %s: %s", path, e)
            return
        if result.returncode != 0:
            logger.debug("ssh -O exit %s: %s", path, result.stderr.decode(errors="replace"))

    def _control_dir(self) -> Path | None:
        with self._lock:
            if not self._dir_checked:
                self._dir_checked = True
                self._dir = _make_control_dir(self.state_dir)
            return self._dir


def _nothing() -> None:
    pass


def _answers(path: Path) -> bool:
    """Whether a master listens on the control socket ``path`` (no process started)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _make_control_dir(state_dir: Path) -> Path | None:
    """``STATE_DIR/ssh`` if its sockets' paths fit, else a private directory in the
    temporary directory; None (no sharing) when neither can be had safely."""
    if os.name == "nt":
        return None
    candidates = [state_dir / "ssh"]
    tag = hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]
    candidates.append(Path(tempfile.gettempdir()) / f"gitsync-{os.getuid()}-{tag}")
    for directory in candidates:
        if len(os.fsencode(directory)) + 1 + _NAME_LEN > _SOCKET_PATH_MAX:
            continue
        try:
            if directory.parent == state_dir:
                state_dir.mkdir(parents=True, exist_ok=True)
            directory.mkdir(mode=0o700, exist_ok=True)
            if _private(directory):
                return directory
        except OSError as e:
            logger.debug("cannot use %s for shared ssh connections: %s", directory, e)
    logger.info("ssh connections are not shared: no short private directory for their "
                "sockets (the state directory %s has a long path)", state_dir)
    return None


def _private(directory: Path) -> bool:
    """A real directory of ours that nobody else can enter (made so when it is ours)."""
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    if stat.S_IMODE(st.st_mode) != 0o700:  # also short of 0700 under a strict umask
        os.chmod(directory, 0o700)
        st = os.lstat(directory)
    return stat.S_IMODE(st.st_mode) == 0o700
