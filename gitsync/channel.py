"""The daemon's local door: requests as JSON lines over a Unix socket in the state dir.

A CLI command that writes a folder the daemon owns sends ``{"op", "folder", "args"}`` and
waits for ``{"ok": RESULT}`` or ``{"error": {"message", "exit_code"}}``; the daemon hands
the request to that folder's worker, so every write still has one owner. The socket file is
created 0600 in the state dir, and the server also checks the peer's uid (SO_PEERCRED), so
only the user who runs the daemon can use it.

This module knows nothing of folders or operations: it moves JSON documents.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gitsync.errors import GitsyncError, RuntimeFailure

logger = logging.getLogger(__name__)

MAX_REQUEST = 1 << 20
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ChannelError(RuntimeFailure):
    """The daemon could not be reached, or went away before it answered."""


class RemoteFailure(GitsyncError):
    """An error the daemon met while carrying out a request, passed on as it was."""

    def __init__(self, message: str, exit_code: int, kind: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.kind = kind  # the daemon's exception class name


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """A Unix socket path must fit in ~107 bytes: reach a long one through /proc."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class ChannelServer:
    """Accepts connections on PATH and answers each request with HANDLER, one thread each."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # left by a daemon that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Not os.umask: it is process-wide, and another thread creating a file or a
        # directory meanwhile would get this mask. Until the chmod, the socket has the
        # umask's bits, which never let another user write (connect) to it.
        with _short_path(self.path) as where:
            sock.bind(where)
            os.chmod(where, 0o600)
        sock.listen(16)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="channel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), name="channel-request",
                             daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                        struct.calcsize("3i"))
                _pid, uid, _gid = struct.unpack("3i", creds)
                if uid != os.getuid():
                    logger.warning("refused a request from uid %d on %s", uid, self.path)
                    return
                conn.settimeout(30)
                request = json.loads(_read_line(conn))
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
            except (OSError, ValueError) as e:
                logger.debug("bad request on %s: %s", self.path, e)
                return
            try:
                reply = {"ok": self.handler(request)}
            except GitsyncError as e:
                reply = {"error": {"message": str(e), "exit_code": e.exit_code,
                                   "kind": type(e).__name__}}
            except Exception as e:  # a bug: say so to the caller and keep serving
                logger.exception("request %s failed", request.get("op"))
                reply = {"error": {"message": f"internal error in the daemon: {e}",
                                   "exit_code": 3, "kind": "InternalError"}}
            with contextlib.suppress(OSError):
                conn.settimeout(30)
                conn.sendall(json.dumps(reply).encode() + b"\n")


def _read_line(conn: socket.socket) -> bytes:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_REQUEST:
            raise ValueError("request too large")
    return bytes(buf)


def call(path: Path, request: dict[str, Any]) -> Any:
    """Send REQUEST to the daemon listening on PATH and return its result.

    Waits as long as the work takes (a big merge may take a while): the daemon closing the
    connection without an answer, not a timer, is what ends the wait.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        try:
            with _short_path(path) as where:
                sock.connect(where)
            sock.sendall(json.dumps(request).encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            data = _read_all(sock)
        except OSError as e:
            raise ChannelError(f"cannot reach the running daemon at {path} ({e.strerror or e})",
                               hint="is 'gitsync run' still running? try again") from e
    if not data:
        raise ChannelError("the daemon stopped before it answered",
                           hint="check 'gitsync status' and try again")
    reply = json.loads(data)
    if "error" in reply:
        err = reply["error"]
        raise RemoteFailure(str(err["message"]), int(err.get("exit_code", 3)),
                            str(err.get("kind", "")))
    return reply["ok"]


def _read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
