"""Instant word of pushes to an SSH remote: a long-lived stream of its branch's tip.

Polling an SSH remote (``git ls-remote`` every few seconds) costs a connection per poll and
still adds up to a poll interval of delay. Where the SSH host has gitsync installed too, one
connection can instead stay open, and the host says the moment the branch moves (the idea of
git-annex's ``notifychanges``). Two halves live here:

* :func:`serve_ref_changes` runs on the host as ``gitsync watch-refs PATH BRANCH``. It watches
  the repository's ref files (:class:`gitsync.watcher.RefWatcher`, no polling) and writes one
  line per event, flushed at once::

      ready <oid>     once, the branch's tip when the stream started (40 zeros: no branch yet)
      ref <oid>       the tip changed (40 zeros: the branch was deleted)
      ping            nothing happened for a while; proves the connection is alive

  Readers ignore lines they do not know, so the protocol can grow.
* :class:`RemoteRefStream` runs on the device: it keeps ``ssh HOST gitsync watch-refs ...``
  running, calls ``on_change()`` for every change, and when the stream cannot run (gitsync not
  installed there, ssh failing, connection lost) it says so once, leaves the caller to poll,
  and tries again with backoff (1 s doubling up to 5 minutes). It never raises into the caller.

The ssh command is built the way git builds it (``GIT_SSH_COMMAND`` run through ``sh``, or
``GIT_SSH``, else :data:`gitsync.transport.DEFAULT_SSH_COMMAND`), so keys, agents, aliases and
``known_hosts`` behave exactly as they do for the fetch that follows each change. With the
default command and a daemon's :class:`gitsync.sshmux.SshConnections`, the stream is one
session of the connection the fetches and pushes share. POSIX only.

``python -m gitsync.refstream [watch-refs] PATH BRANCH`` runs the server half without the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import selectors
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from gitsync.backoff import Backoff
from gitsync.errors import RepoError, RuntimeFailure, UserError
from gitsync.gitproc import run_git
from gitsync.remoteurl import RemoteKind, RemoteUrlError, parse_url
from gitsync.sshmux import SshConnections
from gitsync.transport import DEFAULT_SSH_COMMAND
from gitsync.watcher import RefWatcher

__all__ = [
    "ZERO_OID",
    "Backoff",
    "NotARepositoryError",
    "RemoteRefStream",
    "main",
    "serve_ref_changes",
    "stop_on_stdin_eof",
]

logger = logging.getLogger(__name__)

ZERO_OID = "0" * 40
DEFAULT_HEARTBEAT = 30.0  # s between pings when nothing moves
# A stream silent for three heartbeats (and a margin) is dead even if TCP has not noticed.
DEFAULT_SILENCE_TIMEOUT = 3 * DEFAULT_HEARTBEAT + 5.0
BACKOFF_START = 1.0
BACKOFF_CAP = 300.0
_STOP_CHECK = 0.25  # s: how soon the server notices its stop event
_MAX_LINE = 4096  # bytes: a longer line is not our protocol (a banner, a wrong program)
_OID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_GIT_TIMEOUT = 30.0  # s: reading one ref never takes long; a stuck git must not stop the stream


class NotARepositoryError(UserError):
    """``watch-refs`` was pointed at something that is not a git repository."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


# -- server side: runs on the SSH host ---------------------------------------------------------


def serve_ref_changes(repo: Path, branch: str, out: TextIO, *,
                      stop: threading.Event | None = None, heartbeat: float = DEFAULT_HEARTBEAT
                      ) -> int:
    """Stream the tip of ``refs/heads/BRANCH`` of ``repo`` to ``out`` until stopped.

    Writes ``ready``, then ``ref`` lines on every change of the tip (identical tips reported
    once, however many file events a push makes), and ``ping`` every ``heartbeat`` seconds;
    each line is flushed at once. The tip is also re-read at each ping, so a missed file event
    delays a notice by at most one heartbeat instead of losing it. ``repo`` may be bare or a
    working tree (its ``.git`` is used); a leading ``~`` is expanded, a relative path is taken
    from the current directory (an SSH login's home, as for git).

    Returns 0 when ``stop`` is set or ``out`` is closed by the reader (broken pipe), 2 when
    ``repo`` is not a repository or ``branch`` not a valid branch name, 3 when the repository
    cannot be read or watched; failures write one line to stderr.
    """
    stop = stop if stop is not None else threading.Event()
    try:
        git_dir = find_git_dir(repo)
        _check_branch(branch)
    except UserError as e:
        print(f"gitsync watch-refs: {e}", file=sys.stderr, flush=True)
        return 2
    wake = threading.Event()
    try:
        # Watch first, read second: a push landing between the two still wakes us.
        watcher = RefWatcher(git_dir, branch, wake.set)
        watcher.start()
    except OSError as e:
        print(f"gitsync watch-refs: cannot watch {git_dir}: {e}", file=sys.stderr, flush=True)
        return 3
    try:
        return _serve(git_dir, branch, out, stop, wake, heartbeat)
    except RuntimeFailure as e:  # git cannot read the repository, or got stuck reading it
        print(f"gitsync watch-refs: {e}", file=sys.stderr, flush=True)
        return 3
    finally:
        watcher.stop()


def _serve(git_dir: Path, branch: str, out: TextIO, stop: threading.Event,
           wake: threading.Event, heartbeat: float) -> int:
    try:
        tip = read_tip(git_dir, branch)
        _emit(out, f"ready {tip}")
        next_ping = time.monotonic() + heartbeat
        while not stop.is_set():
            remaining = next_ping - time.monotonic()
            if remaining <= 0:
                _emit(out, "ping")
                next_ping = time.monotonic() + heartbeat
                wake.set()  # re-read now and then: a safety net for a missed file event
            if not wake.wait(min(max(remaining, 0.0), _STOP_CHECK)):
                continue
            wake.clear()  # before reading, so a change during the read wakes us again
            new = read_tip(git_dir, branch)
            if new != tip:
                tip = new
                _emit(out, f"ref {tip}")
        return 0
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the reader went away: nothing left to do


def _emit(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def find_git_dir(path: Path) -> Path:
    """The directory holding ``path``'s refs: ``path`` itself if bare, else its ``.git``.

    Only ``path`` itself counts, never a repository above it (a typo must not silently watch
    the enclosing home-directory repository). Raises :class:`NotARepositoryError`.
    """
    expanded = Path(os.path.expanduser(str(path)))
    if not expanded.is_dir():
        raise NotARepositoryError(f"{path}: no such directory", path=str(path))
    absolute = expanded.resolve()
    result = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=absolute,
                     env={"GIT_CEILING_DIRECTORIES": str(absolute.parent)},
                     timeout=_GIT_TIMEOUT)
    if result.returncode != 0 or not result.text.strip():
        reason = (result.stderr.strip().splitlines() or ["not a git repository"])[-1]
        raise NotARepositoryError(f"{path}: not a git repository ({reason})", path=str(path))
    return Path(result.text.strip())


def _check_branch(branch: str) -> None:
    ok = bool(branch) and not branch.startswith("-") and run_git(
        ["check-ref-format", f"refs/heads/{branch}"], cwd=Path(os.sep), timeout=_GIT_TIMEOUT,
    ).ok
    if not ok:
        raise UserError(f"{branch!r} is not a valid branch name")


def read_tip(git_dir: Path, branch: str) -> str:
    """The commit ``refs/heads/BRANCH`` points at, or :data:`ZERO_OID` when it does not exist.

    Uses the git CLI, which reads loose refs, ``packed-refs`` (and reftables) consistently
    while a push is rewriting them. Raises :class:`RepoError` when git cannot read the repo.
    """
    result = run_git([f"--git-dir={git_dir}", "rev-parse", "--verify", "-q",
                      f"refs/heads/{branch}"], cwd=Path(os.sep), timeout=_GIT_TIMEOUT)
    oid = result.text.strip()
    if result.returncode == 0 and _OID.match(oid):
        return oid
    if result.returncode == 1:  # --verify -q: the ref does not exist
        return ZERO_OID
    detail = result.stderr.strip() or f"git exited with {result.returncode}"
    raise RepoError(f"cannot read refs/heads/{branch} in {git_dir}: {detail}")


def stop_on_stdin_eof() -> threading.Event:
    """An event set when stdin reaches end of file, if stdin is a pipe or socket.

    sshd hands a command's stdin over as a pipe that closes when the client disconnects, so
    watching it ends ``watch-refs`` at once instead of at the next failed ping. A terminal or
    ``/dev/null`` is not watched (EOF there means nothing about the reader).
    """
    stop = threading.Event()
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return stop
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return stop

    def drain() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=drain, name="watch-refs-stdin", daemon=True).start()
    return stop


def main(argv: list[str] | None = None) -> int:
    """``python -m gitsync.refstream [watch-refs] PATH BRANCH``: the server half, standalone.

    The optional ``watch-refs`` word lets ``python -m gitsync.refstream`` stand in for
    ``gitsync`` as a :class:`RemoteRefStream` ``remote_command``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["watch-refs"]:
        args = args[1:]
    parser = argparse.ArgumentParser(
        prog="gitsync watch-refs",
        description="print a line each time BRANCH of the repository at PATH moves",
    )
    parser.add_argument("path", metavar="PATH", help="repository (bare or working tree)")
    parser.add_argument("branch", metavar="BRANCH")
    parser.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT,
                        help=f"seconds between pings (default {DEFAULT_HEARTBEAT:g})")
    ns = parser.parse_args(args)
    try:
        code = serve_ref_changes(Path(ns.path), ns.branch, sys.stdout, stop=stop_on_stdin_eof(),
                                 heartbeat=ns.heartbeat)
    except KeyboardInterrupt:
        code = 0
    _quiet_stdout()
    return code


def _quiet_stdout() -> None:
    # After the reader left, Python's own flush at exit would print a BrokenPipeError.
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ConnectionResetError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


# -- client side: runs on the device -----------------------------------------------------------


class RemoteRefStream:
    """Keeps ``ssh HOST <remote_command> watch-refs PATH BRANCH`` running for one SSH remote.

    ``on_change()`` is called from the stream's thread for every change of the remote tip,
    once each time the stream (re)connects, since a push may have landed while it was down,
    and once when a live stream is lost, so the owner checks at once and, seeing
    :attr:`connected` false, goes back to polling at its usual rate. Treat each call as "fetch
    now". It must not block for long; exceptions it raises are logged.

    ``remote_command`` is a shell fragment run on the host (``gitsync``, or a full path such
    as ``~/.local/bin/gitsync``). ``env`` is layered over the process environment, both for
    picking the ssh command (``GIT_SSH_COMMAND``, ``GIT_SSH``) and for running it.
    ``silence_timeout`` is how long a connected stream may stay quiet (the host pings every
    30 s) before it is presumed dead and reopened. ``connections`` shares one connection
    to the host with the daemon's transfers when the default ssh command is used.
    """

    def __init__(self, url: str, branch: str, on_change: Callable[[], None], *,
                 remote_command: str = "gitsync", env: Mapping[str, str] | None = None,
                 silence_timeout: float = DEFAULT_SILENCE_TIMEOUT,
                 connections: SshConnections | None = None) -> None:
        remote = parse_url(url)
        if remote.kind is not RemoteKind.SSH or not remote.host:
            raise RemoteUrlError(f"live updates need an ssh remote, not {remote.display!r}",
                                 url=url)
        path = remote.path
        if _URL_SCHEME.match(url) and path.startswith("/~"):
            path = path[1:]  # ssh://host/~/repo names a path under the home, as git reads it
        if not path:
            raise RemoteUrlError(f"remote URL {remote.display!r} names no repository path",
                                 url=url)
        self.url = url
        self._remote = remote
        self._connections = connections
        self.host = remote.host
        self.port = remote.port
        self.user = remote.user
        self.path = path
        self.branch = branch
        self.remote_command = remote_command
        self.silence_timeout = silence_timeout
        self._on_change = on_change
        self._env = dict(os.environ)
        self._env.update(env or {})
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._connected = False
        self._tip: str | None = None
        self._release_turn: Callable[[], None] | None = None

    # -- public ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True between the host's ``ready`` and the end of that connection."""
        return self._connected

    @property
    def tip(self) -> str | None:
        """The remote tip the live stream last announced (:data:`ZERO_OID`: no branch), or
        None while it is not connected. An owner may skip a fetch when it already has it."""
        return self._tip

    def command(self) -> list[str]:
        """The argv that opens the stream, built as git builds its ssh command."""
        target = f"{self.user}@{self.host}" if self.user else self.host
        remote = (f"{self.remote_command} watch-refs {shlex.quote(self.path)} "
                  f"{shlex.quote(self.branch)}")
        args = [*(["-p", str(self.port)] if self.port else []), target, remote]
        ssh_command = self._env.get("GIT_SSH_COMMAND")
        if ssh_command:
            # git runs it through the shell so the user's quoting and options apply as written
            return ["/bin/sh", "-c", f'{ssh_command} "$@"', ssh_command, *args]
        ssh_program = self._env.get("GIT_SSH")
        if ssh_program:
            return [ssh_program, *args]
        return [*shlex.split(DEFAULT_SSH_COMMAND), *self._shared_options(), *args]

    def _shared_options(self) -> list[str]:
        return self._connections.options(self._remote) if self._connections else []

    def start(self) -> None:
        """Open the stream in a background thread; returns at once."""
        with self._lock:
            if self._thread is not None:
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"refstream:{self.host}")
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the stream: terminate ssh (its whole process group) and join the thread."""
        with self._lock:
            self._stopping.set()
            thread, self._thread = self._thread, None
            if self._proc is not None:
                # Only signalled here: the stream's thread reaps it and closes its pipes, so
                # no fd is closed under its feet. Set means not yet reaped, so the id is ours.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGTERM)
        if thread is not None:
            thread.join(timeout)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(BACKOFF_START, BACKOFF_CAP)
        failing = False
        while not self._stopping.is_set():
            try:
                connected_for, failure = self._session()
            except Exception as e:  # never let the thread die: polling covers us meanwhile
                logger.exception("live updates from %s failed unexpectedly", self.host)
                connected_for, failure = None, f"internal error: {e}"
            if self._stopping.is_set():
                break
            delay = backoff.next_delay(connected_for)
            if connected_for is not None:
                failing = False
                logger.info("live updates from %s interrupted (%s); polling meanwhile, "
                            "reconnecting in %g s", self.host, failure, delay)
                self._notify()  # the owner checks now, and polls at its usual rate again
            elif not failing:
                failing = True
                logger.warning("live updates from %s unavailable (%s); polling instead, will "
                               "retry in %g s", self.host, failure, delay)
            else:
                logger.debug("live updates from %s still unavailable (%s); next try in %g s",
                             self.host, failure, delay)
            self._stopping.wait(delay)

    def _session(self) -> tuple[float | None, str]:
        """One connection, until it ends; returns (seconds connected or None, why it ended)."""
        with self._lock:
            if self._stopping.is_set():
                return None, "stopped"
        argv = self.command()
        # Becoming the shared connection's master, if none runs yet, takes a turn: held until
        # the host says ready (then transfers join this connection) or the session ends.
        if self._connections is not None and "ControlMaster=auto" in argv:
            self._release_turn = self._connections.hold(self._remote,
                                                        give_up=self._stopping.is_set)
        with self._lock:
            if self._stopping.is_set():
                self._end_turn()
                return None, "stopped"
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=self._env, start_new_session=True,
                )
            except OSError as e:
                self._end_turn()
                return None, f"cannot run ssh: {e}"
            self._proc = proc
        connected_at: float | None = None
        ending, stderr_tail = "", b""
        try:
            connected_at, ending, stderr_tail = self._read(proc)
        finally:
            self._end_turn()
            self._connected = False
            self._tip = None
            with self._lock:
                self._proc = None  # from here on stop() leaves it to us
            if not ending:  # both pipes closed: ssh is exiting, let it report its status
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=2.0)
            _terminate(proc)
        connected_for = None if connected_at is None else time.monotonic() - connected_at
        return connected_for, ending or _exit_reason(proc.returncode, stderr_tail)

    def _read(self, proc: subprocess.Popen[bytes]) -> tuple[float | None, str, bytes]:
        """Serve the stream's lines until it closes, goes silent or is stopped.

        Returns when the stream was ready (or None), why reading stopped early ("" when the
        process closed its output) and the end of its stderr (ssh's and the host's messages).
        """
        assert proc.stdout is not None and proc.stderr is not None
        connected_at: float | None = None
        out_buf = err_tail = b""
        last_heard = time.monotonic()
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, "out")
            sel.register(proc.stderr, selectors.EVENT_READ, "err")
            while sel.get_map():
                if self._stopping.is_set():
                    return connected_at, "stopped", err_tail
                if time.monotonic() - last_heard > self.silence_timeout:
                    return (connected_at, f"no word from the host for {self.silence_timeout:g} s",
                            err_tail)
                for key, _ in sel.select(timeout=1.0):
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fileobj)
                    elif key.data == "err":
                        err_tail = (err_tail + data)[-_MAX_LINE:]
                    else:
                        last_heard = time.monotonic()
                        *lines, out_buf = (out_buf + data).split(b"\n")
                        for line in lines:
                            if self._handle(line.decode("utf-8", "replace").strip()) \
                                    and connected_at is None:
                                connected_at = time.monotonic()
                        if len(out_buf) > _MAX_LINE:
                            return (connected_at,
                                    "the host does not speak the watch-refs protocol", err_tail)
        return connected_at, "", err_tail

    def _handle(self, line: str) -> bool:
        """Act on one line; True if it was ``ready``."""
        word, _, rest = line.partition(" ")
        if word in ("ready", "ref"):
            self._tip = rest if _OID.match(rest) else None
        if word == "ready":
            self._end_turn()
            self._connected = True
            logger.info("live updates from %s connected", self.host)
            self._notify()
            return True
        if word == "ref":
            logger.debug("%s says %s moved to %s", self.host, self.branch, rest)
            self._notify()
        return False  # "ping" and unknown words: only proof of life

    def _end_turn(self) -> None:
        release, self._release_turn = self._release_turn, None
        if release is not None:
            release()

    def _notify(self) -> None:
        try:
            self._on_change()
        except Exception:
            logger.exception("handling a change pushed to %s failed", self.host)


def _exit_reason(code: int | None, stderr_tail: bytes) -> str:
    """Why a stream ended, in words for the log, from ssh's exit status and last message."""
    text = stderr_tail.decode("utf-8", "replace").strip()
    last = text.splitlines()[-1] if text else ""
    if code in (126, 127):  # the remote shell could not find or run the command
        return f"gitsync not installed there? {last}".strip()
    if code == 255:
        return f"ssh failed: {last}" if last else "ssh failed"
    if code == 2:
        return last or "the host refused the repository path or branch"
    return last or f"the stream ended with exit status {code}"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` and everything it started (its own session), reap it, close its pipes.

    The group is signalled only while ``proc`` is unreaped, so its id cannot have been reused.
    """
    if proc.returncode is None:
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


if __name__ == "__main__":
    sys.exit(main())
