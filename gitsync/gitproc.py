"""The one way gitsync runs the ``git`` executable.

Every git process, local (``status``, ``add``, ``rev-parse``) or a transfer (``fetch``,
``push``), goes through :func:`run_git`, which promises the same things each time:

* The environment is sealed (:func:`git_env`): ``LC_ALL=C`` so git's messages can be
  classified, ``GIT_TERMINAL_PROMPT=0`` so nothing ever waits for a password, and the
  repository-location variables a parent git may have exported (``GIT_DIR``,
  ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``...) dropped, so git works on the repository at
  ``cwd`` and nowhere else. Callers layer their own variables on top.
* ``--no-optional-locks`` comes first: gitsync's background calls never take a lock (the
  index refresh of ``status``) from under the user's own git.
* No terminal and no stdin unless ``input`` is given: git runs in a new session, so neither
  git nor an ssh it starts can prompt, and the whole process group can be stopped at once.
* It never hangs: ``timeout`` is the longest git may stay silent (progress counts); past it,
  when ``should_stop`` says so, or when the caller is interrupted, the process group is
  terminated (then killed) and git reaped before the error propagates.
* ``low_priority`` runs git (and every process it starts) under ``nice`` and ``ionice``
  where those exist, for background upkeep that must not slow the user down.

Progress lines on stderr ("Receiving objects:  45% (9/20)") are handed to ``on_progress``
and kept out of :attr:`GitResult.stderr`. POSIX only (``selectors`` and ``killpg``).
"""

from __future__ import annotations

import codecs
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitsync.errors import GitsyncError, RepoError, RuntimeFailure

__all__ = [
    "DEFAULT_TIMEOUT",
    "GitFailed",
    "GitResult",
    "GitSilent",
    "GitStopped",
    "ProgressCallback",
    "git_env",
    "run_git",
]

#: Seconds a local git command may stay silent before it is presumed stuck.
DEFAULT_TIMEOUT = 300.0

ProgressCallback = Callable[[str, int, int], None]

# Variables through which a parent git (a hook, an alias) points its children at a repository;
# inherited, they would make git ignore ``cwd``.
_LOCATION_VARS = ("GIT_DIR", "GIT_COMMON_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
                  "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE",
                  "GIT_PREFIX")
_EXIT_GRACE = 0.5  # s to wait for pipes after git exited (a ControlPersist ssh may hold them)
_CHUNK = 65536


class GitFailed(RepoError):
    """A git command exited non-zero where the caller needed it to succeed."""

    def __init__(self, message: str, *, argv: tuple[str, ...], returncode: int,
                 stderr: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class GitSilent(RuntimeFailure):
    """git printed nothing for longer than its timeout and was stopped."""


class GitStopped(RuntimeFailure):
    """The caller asked for git to be stopped (``should_stop``), and it was."""


@dataclass(frozen=True)
class GitResult:
    """What one git run produced. ``stderr`` has progress lines removed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        """stdout decoded (undecodable bytes replaced): for output that is not paths."""
        return self.stdout.decode(errors="replace")

    def check(self) -> GitResult:
        """This result, or :class:`GitFailed` when git exited non-zero."""
        if self.ok:
            return self
        last = (self.stderr.strip().splitlines() or [f"exit status {self.returncode}"])[-1]
        command = self.argv[2] if len(self.argv) > 2 else "git"
        raise GitFailed(f"git {command} failed: {last}", argv=self.argv,
                        returncode=self.returncode, stderr=self.stderr)


def git_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs with: this process's, sealed, with ``overrides`` on top.

    Location variables set in ``overrides`` are kept (a caller may mean them); only inherited
    ones are dropped.
    """
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env.update(overrides or {})
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"  # untranslated messages, so they can be classified
    env.pop("LANGUAGE", None)
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    git: str = "git",
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    input: bytes | Iterable[bytes] | None = None,
    check: bool = False,
    on_progress: ProgressCallback | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
    on_silence: Callable[[str], GitsyncError] | None = None,
    should_stop: Callable[[], bool] | None = None,
    low_priority: bool = False,
) -> GitResult:
    """Run ``git --no-optional-locks ARGS`` in ``cwd`` and collect its output.

    ``env`` is layered over the sealed environment (:func:`git_env`). ``input`` is written
    to git's stdin (closed after it; git gets no stdin at all when None); an iterable of
    chunks is drawn only as git takes them, so a stream bigger than memory can be fed, and
    git reading it counts as a sign of life. ``on_stdout``
    sees stdout chunks as they arrive (stdout is collected all the same). With ``check``, a
    non-zero exit raises :class:`GitFailed`. If git stays silent for ``timeout`` seconds, its
    process group is stopped and ``on_silence(stderr so far)`` is raised, or
    :class:`GitSilent`. An exception from a callback stops git the same way and propagates.
    ``should_stop`` is asked a few times a second; once it says True, git is stopped the same
    way and :class:`GitStopped` raised. ``low_priority``: see the module's docstring.
    """
    argv = (git, "--no-optional-locks", *args)
    try:
        proc = subprocess.Popen(
            (*_low_priority_prefix(), *argv) if low_priority else argv, cwd=cwd, env=git_env(env),
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as e:
        raise RuntimeFailure(f"cannot run {git} in {cwd}: {e.strerror}",
                             hint="install git and make sure it is on PATH") from e
    err = _StderrLines(on_progress)
    try:
        out = _collect(proc, argv, err, timeout, input, on_stdout, on_silence, should_stop)
    finally:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    result = GitResult(argv, proc.returncode, bytes(out), err.close())
    return result.check() if check else result


def _collect(proc: subprocess.Popen[bytes], argv: tuple[str, ...], err: _StderrLines,
             timeout: float, input: bytes | Iterable[bytes] | None,
             on_stdout: Callable[[bytes], None] | None,
             on_silence: Callable[[str], GitsyncError] | None,
             should_stop: Callable[[], bool] | None = None) -> bytearray:
    """Serve git's pipes until it exits; stop its group on silence or on any exception."""
    assert proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    chunks = iter((input,) if isinstance(input, bytes) else input or ())
    pending = memoryview(b"")
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    if proc.stdin is not None:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
    last_output = time.monotonic()
    exited_at: float | None = None
    try:
        while sel.get_map():
            events = sel.select(timeout=0.1)
            now = time.monotonic()
            for key, _ in events:
                if key.data == "in":
                    before = len(pending)
                    pending = _feed(proc, sel, pending, chunks)
                    if len(pending) != before:
                        last_output = now
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                if key.data == "out":
                    out += chunk
                    if on_stdout is not None:
                        on_stdout(chunk)
                else:
                    err.feed(chunk)
                last_output = now
            if proc.poll() is not None:
                exited_at = exited_at or now
                if not events and now - exited_at > _EXIT_GRACE:
                    break  # git is done; whoever still holds the pipes is not ours to wait for
            elif now - last_output > timeout:
                _stop_group(proc)
                if on_silence is not None:
                    raise on_silence(err.close())
                raise GitSilent(f"git {argv[2] if len(argv) > 2 else ''} gave no sign of life"
                                f" for {timeout:g} s", hint="will retry")
            elif should_stop is not None and should_stop():
                _stop_group(proc)
                raise GitStopped(f"git {argv[2] if len(argv) > 2 else ''} was stopped")
        proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        sel.close()
    return out


def _low_priority_prefix() -> tuple[str, ...]:
    """``nice``/``ionice`` in front of git, those that exist (``ionice -t``: run anyway when
    the kernel refuses the I/O class, as in some containers)."""
    prefix: tuple[str, ...] = ()
    if shutil.which("nice"):
        prefix += ("nice", "-n", "19")
    if shutil.which("ionice"):
        prefix += ("ionice", "-c", "3", "-t")
    return prefix


def _feed(proc: subprocess.Popen[bytes], sel: selectors.BaseSelector,
          pending: memoryview, chunks: Iterator[bytes]) -> memoryview:
    """Write what git's stdin takes now; close it when all is written or git stopped reading."""
    assert proc.stdin is not None
    done = False
    try:
        while not pending:
            chunk = next(chunks, None)
            if chunk is None:
                done = True
                break
            pending = memoryview(chunk)
        if pending:
            pending = pending[os.write(proc.stdin.fileno(), pending[:_CHUNK]):]
    except BlockingIOError:
        return pending
    except BrokenPipeError:  # git exited or closed stdin: its exit status tells why
        pending, done = memoryview(b""), True
    if done:
        sel.unregister(proc.stdin)
        proc.stdin.close()
    return pending


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate git and its children (ssh, remote helpers), politely first, and reap git."""
    if proc.poll() is not None:
        return  # reaped: its process-group id may already belong to someone else
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
            return
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


# "Receiving objects:  45% (9/20), 1.20 MiB | 2.00 MiB/s", also behind "remote: ".
_PROGRESS = re.compile(
    r"^(?:remote: )?(?P<phase>[A-Z][A-Za-z ]*?):\s+\d+% \((?P<done>\d+)/(?P<total>\d+)\)"
)
# Counters without a total ("remote: Enumerating objects: 32, done.") are progress too.
_PROGRESS_COUNTER = re.compile(r"^(?:remote: )?[A-Z][A-Za-z ]*: \d+(?:, done\.)?\s*$")


class _StderrLines:
    """Splits git's stderr on CR/LF, reports progress lines and keeps the rest."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self._on_progress = on_progress
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._kept: list[str] = []

    def feed(self, chunk: bytes) -> None:
        text = self._decoder.decode(chunk)
        *lines, self._pending = re.split(r"[\r\n]", self._pending + text)
        for line in lines:
            self._line(line)

    def close(self) -> str:
        self._line(self._pending + self._decoder.decode(b"", final=True))
        self._pending = ""
        return "\n".join(self._kept)

    def _line(self, line: str) -> None:
        line = line.rstrip()
        match = _PROGRESS.match(line)
        if match:
            if self._on_progress is not None:
                self._on_progress(match["phase"], int(match["done"]), int(match["total"]))
        elif line and not _PROGRESS_COUNTER.match(line):
            self._kept.append(line)
