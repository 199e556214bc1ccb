"""Network transfer (ls-remote, fetch, push, clone) through the system ``git`` executable.

Why a subprocess and not pygit2: SSH must behave exactly as it does for ``git`` itself, so
``~/.ssh/config`` host aliases, the ssh-agent, keys and ``known_hosts`` all just work; pygit2
stays for local work. This is the only module that runs git for network transfer.

What every call promises:

* It never prompts. ``GIT_TERMINAL_PROMPT=0``; git runs in its own session, so ssh has no
  terminal to ask on; and unless the user configured their own ``GIT_SSH_COMMAND``, ``GIT_SSH``
  or ``core.sshCommand`` (kept exactly as is), ssh runs as :data:`DEFAULT_SSH_COMMAND`
  (``BatchMode=yes``, ``ConnectTimeout=10``). An unknown or changed host key is therefore
  refused (:class:`HostKeyError`), never accepted silently.
* It never forces. Pushes are plain fast-forward pushes (``--atomic --porcelain``); a remote that
  moved on raises :class:`PushRejected` so the caller fetches, merges and retries.
* It never hangs and never leaks a process. ``timeout`` is the longest git may stay silent
  (progress counts: transfers run with ``--progress``); past it the whole process group (git
  and its ssh) is terminated and :class:`RemoteUnreachable` raised.
* Failures are typed by what the user can do about them. Messages are ours; git's own output
  is kept in ``detail`` for logs, with secrets in URLs removed.

Every git call passes ``--no-optional-locks`` (background polling never takes a lock from the
user's own git) and runs with ``LC_ALL=C`` so git's messages can be classified. Needs git 2.29
or newer. POSIX only: output is read with ``selectors`` and stopped with ``killpg``.
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitsync.errors import (
    FolderError,
    GitsyncError,
    LockedError,
    RemoteError,
    RepoError,
    RuntimeFailure,
)
from gitsync.remoteurl import RemoteKind, RemoteUrl, parse_url, redact

__all__ = [
    "DEFAULT_SSH_COMMAND",
    "AuthError",
    "GitResult",
    "HostKeyError",
    "PushRejected",
    "RemoteNotFound",
    "RemoteRef",
    "RemoteUnreachable",
    "Transport",
    "TransportError",
    "clone",
    "run_git",
]

logger = logging.getLogger(__name__)

#: The ssh command used when the user configured none: never prompt, give up connecting in 10 s.
DEFAULT_SSH_COMMAND = "ssh -o BatchMode=yes -o ConnectTimeout=10"

ProgressCallback = Callable[[str, int, int], None]
_RETRY_NETWORK = "will retry; check the network"
_LOCAL_TIMEOUT = 30.0  # s for local git calls (config, rev-parse)


# -- errors ------------------------------------------------------------------------------------


class TransportError(RemoteError):
    """A transfer with a remote failed. ``detail`` holds git's own output (for logs)."""

    def __init__(
        self, message: str, *, remote: str, detail: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.remote = remote
        self.detail = detail


class RemoteUnreachable(TransportError):
    """The remote's host could not be reached (DNS, refused, timeout, network down)."""


class HostKeyError(TransportError):
    """The SSH host key is unknown or changed; a person must verify it once with ``ssh``."""

    def __init__(self, message: str, *, remote: str, host: str | None, changed: bool,
                 detail: str = "", hint: str | None = None) -> None:
        super().__init__(message, remote=remote, detail=detail, hint=hint)
        self.host = host
        self.changed = changed


class AuthError(TransportError):
    """The remote refused our credentials (SSH key not authorized, HTTPS login failed)."""


class RemoteNotFound(TransportError):
    """There is no repository (or no such branch to clone) at the remote URL."""


class PushRejected(TransportError):
    """The remote branch has commits we have not merged: fetch, merge and push again."""

    def __init__(self, message: str, *, remote: str, ref: str, reason: str,
                 expected: str | None, detail: str = "", hint: str | None = None) -> None:
        super().__init__(message, remote=remote, detail=detail, hint=hint)
        self.ref = ref
        self.reason = reason  # git's word for it: "non-fast-forward", "fetch first", ...
        self.expected = expected


# -- transfers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteRef:
    """One ref advertised by a remote."""

    name: str
    oid: str


class Transport:
    """Transfers between one local repository and its remotes.

    ``repo_dir`` is the repository (working tree or bare) that fetches land in and pushes
    come from. ``remote`` arguments take a configured remote name or a URL. ``env`` holds
    variables layered over the process environment (e.g. a ``GIT_SSH_COMMAND``). ``timeout``
    is how many seconds git may stay silent before the transfer is abandoned.
    """

    def __init__(self, repo_dir: Path, *, git: str = "git",
                 env: Mapping[str, str] | None = None, timeout: float = 120) -> None:
        self.repo_dir = Path(repo_dir)
        self.git = git
        self.env = dict(env or {})
        self.timeout = timeout

    def ls_remote(self, remote: str, ref: str) -> str | None:
        """The oid ``ref`` points at on the remote, or None when it has no such ref.

        Cheap enough to poll: one round trip, no objects are transferred. A bare branch name
        means ``refs/heads/<name>``.
        """
        full = _full_ref(ref)
        return next((r.oid for r in self.list_refs(remote, full) if r.name == full), None)

    def list_refs(self, remote: str, *patterns: str) -> list[RemoteRef]:
        """Refs the remote advertises, filtered by git's ls-remote ``patterns`` (tail match)."""
        url = self._url(remote)
        result = self._run(["ls-remote", "--", remote, *patterns], url=url, op="ls-remote")
        if result.returncode != 0:
            raise _failure("ls-remote", url, result)
        refs = []
        for line in result.stdout.splitlines():
            oid, _, name = line.partition("\t")
            if oid and name:
                refs.append(RemoteRef(name=name, oid=oid))
        return refs

    def fetch(self, remote: str, ref: str, *, into: str) -> str | None:
        """Fetch the remote's ``ref`` into the local ref ``into``; return the fetched oid.

        Returns None, leaving ``into`` as it was, when the remote has no such branch (an empty
        remote, say). ``into`` mirrors the remote: it follows even a rewritten remote history,
        because what a rewrite means is the caller's decision; our own branches are never
        touched. Tags, submodules, FETCH_HEAD and automatic maintenance are skipped.
        """
        full = _full_ref(ref)
        if not into.startswith("refs/") or ":" in into or any(c.isspace() for c in into):
            raise ValueError(f"into must be a full ref like refs/remotes/origin/main: {into!r}")
        url = self._url(remote)
        args = ["fetch", "--progress", "--no-tags", "--no-write-fetch-head",
                "--no-auto-maintenance", "--recurse-submodules=no", "--", remote, f"+{full}:{into}"]
        result = self._run(args, url=url, op="fetch")
        if result.returncode != 0:
            if "couldn't find remote ref" in result.detail:
                return None
            raise _failure("fetch", url, result)
        oid = self._local(["rev-parse", "--verify", "--quiet", f"{into}^{{commit}}"])
        if not oid:
            raise RepoError(f"fetched {into} but cannot read it back in {self.repo_dir}")
        return oid

    def push(self, remote: str, local_oid_or_ref: str, ref: str, *, expect: str | None) -> None:
        """Make the remote's ``ref`` point at ``local_oid_or_ref`` if that is a fast-forward.

        Never forces: git on the remote side checks, under its own ref lock, that its current
        tip is contained in what we send, so no remote commit can be lost. When it is not (the
        remote moved on), :class:`PushRejected` is raised and the remote is unchanged; the
        caller fetches, merges and pushes again. ``expect`` is the remote tip the caller
        merged with (None: it believes the branch does not exist yet); it is carried on
        :class:`PushRejected`, and a push that found another tip is logged.
        """
        full = _full_ref(ref)
        url = self._url(remote, push=True)
        args = ["push", "--atomic", "--porcelain", "--progress", "--", remote,
                f"{local_oid_or_ref}:{full}"]
        result = self._run(args, url=url, op="push")
        status = _porcelain_status(result.stdout, full)
        if status is None:
            if result.returncode == 0:
                return
            if "src refspec" in result.detail and "does not match any" in result.detail:
                raise RepoError(
                    f"cannot push {local_oid_or_ref!r}: no such commit or ref in {self.repo_dir}"
                )
            raise _failure("push", url, result)
        flag, summary = status
        if flag == "!":
            raise _push_refused(url, full, summary, expect, result)
        if result.returncode != 0:
            raise _failure("push", url, result)
        _note_unexpected_tip(url, full, summary, expect)

    def _url(self, remote: str, *, push: bool = False) -> RemoteUrl:
        """The URL git will use for ``remote`` (a name or a URL; ``insteadOf`` applied), vetted.

        Refusing unsupported kinds here keeps git from ever running e.g. an ``ext::`` remote.
        """
        url = ""
        if remote and push:
            url = self._local(["remote", "get-url", "--push", "--", remote])
        if remote and not url:
            url = self._local(["ls-remote", "--get-url", "--", remote])
        return parse_url(url.splitlines()[0] if url else remote)

    def _local(self, args: list[str]) -> str:
        """stdout of a quick local git command, or "" when it fails."""
        if not self.repo_dir.is_dir():
            raise RepoError(f"repository folder {self.repo_dir} does not exist")
        env = _transfer_env(self.env, git=self.git, cwd=None, url=None)
        result = run_git(args, git=self.git, cwd=self.repo_dir, env=env, timeout=_LOCAL_TIMEOUT)
        return result.stdout.strip() if result.returncode == 0 else ""

    def _run(self, args: Sequence[str], *, url: RemoteUrl, op: str) -> GitResult:
        logger.debug("git %s %s", op, url.display)
        env = _transfer_env(self.env, git=self.git, cwd=self.repo_dir, url=url)
        return run_git(args, git=self.git, cwd=self.repo_dir, env=env, timeout=self.timeout,
                       unreachable=lambda detail: _timed_out(op, url, self.timeout, detail))


def clone(
    url: str,
    dest: Path,
    *,
    branch: str | None,
    progress: ProgressCallback | None,
    git: str = "git",
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> None:
    """Clone ``url`` into ``dest``, which must not exist or be an empty directory.

    ``progress(phase, done, total)`` is called from this thread as git reports progress
    ("Receiving objects", 9, 20); an exception it raises aborts the clone. On any failure
    nothing is left at ``dest`` (an empty directory that existed before stays, empty). A
    local path is copied with git's local shortcuts, which report no progress; ``file://``
    goes through the pack protocol and does.
    """
    dest = Path(dest).absolute()
    remote = parse_url(url)
    existed = dest.exists()
    if existed and (not dest.is_dir() or any(dest.iterdir())):
        raise FolderError(f"cannot clone into {dest}: it exists and is not an empty directory",
                          path=str(dest), hint="choose a new folder")
    args = ["clone", "--progress", "--no-tags", "--origin", "origin"]
    args += ["--branch", branch] if branch else []
    args += ["--", url, str(dest)]
    ok = False
    try:
        result = run_git(
            args, git=git, cwd=Path.cwd(), timeout=timeout, on_progress=progress,
            env=_transfer_env(env or {}, git=git, cwd=None, url=remote),
            unreachable=lambda detail: _timed_out("clone", remote, timeout, detail),
        )
        if result.returncode != 0:
            if branch and "not found in upstream" in result.detail:
                raise RemoteNotFound(f"{remote.display} has no branch {branch!r}",
                                     remote=remote.display, detail=_scrub(result.detail),
                                     hint="check the branch name")
            raise _failure("clone", remote, result)
        ok = True
    finally:
        if not ok:
            _remove_partial_clone(dest, existed)


def _remove_partial_clone(dest: Path, existed: bool) -> None:
    """Leave no half-made repository behind: git cleans up itself, but not when killed."""
    if not dest.exists():
        return
    if not existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# -- environment -------------------------------------------------------------------------------


def _transfer_env(
    overrides: Mapping[str, str], *, git: str, cwd: Path | None, url: RemoteUrl | None
) -> dict[str, str]:
    """The environment git runs with; ``url`` given means a transfer (so ssh may run)."""
    env = dict(os.environ)
    env.update(overrides)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"  # git's messages untranslated, so they can be classified
    env.pop("LANGUAGE", None)
    env["GIT_PROGRESS_DELAY"] = "0"  # report progress at once: it is also our sign of life
    if url is not None and not _user_ssh_command(env, git, cwd):
        env["GIT_SSH_COMMAND"] = DEFAULT_SSH_COMMAND
    return env


def _user_ssh_command(env: Mapping[str, str], git: str, cwd: Path | None) -> bool:
    """Whether the user chose their own ssh command (which we then leave exactly as is)."""
    if env.get("GIT_SSH_COMMAND") or env.get("GIT_SSH"):
        return True
    probe_env = dict(env)
    if cwd is None:  # outside any repository only system and global config apply, as for clone
        probe_env["GIT_DIR"] = os.devnull
    result = run_git(["config", "--get", "core.sshCommand"], git=git, cwd=cwd or Path(os.sep),
                     env=probe_env, timeout=_LOCAL_TIMEOUT)
    return result.returncode == 0 and bool(result.stdout.strip())


# -- results and failures ----------------------------------------------------------------------


def _full_ref(ref: str) -> str:
    if not ref or ref.startswith(("-", "+", ":")) or any(c.isspace() for c in ref):
        raise ValueError(f"bad ref name {ref!r}")
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def _porcelain_status(stdout: str, ref: str) -> tuple[str, str] | None:
    """The (flag, summary) ``git push --porcelain`` reported for ``ref``, if any."""
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1 and parts[1].rpartition(":")[2] == ref:
            return parts[0], parts[2]
    return None


def _push_refused(url: RemoteUrl, ref: str, summary: str, expect: str | None,
                  result: GitResult) -> TransportError:
    reason = summary[summary.find("(") + 1 : summary.rfind(")")] if "(" in summary else summary
    detail = _scrub(result.detail)
    if summary.startswith("[rejected]"):
        return PushRejected(
            f"{url.display} has changes on {ref} that this device has not merged yet",
            remote=url.display, ref=ref, reason=reason, expected=expect, detail=detail,
            hint="will fetch, merge and push again",
        )
    # "[remote rejected]": a hook, a protected branch, a checked-out branch; a person must act
    return TransportError(
        f"{url.display} refused the update of {ref}", remote=url.display, detail=detail,
        hint=f"the server said: {reason}" if reason else "the server's reason is in the log",
    )


def _note_unexpected_tip(url: RemoteUrl, ref: str, summary: str, expect: str | None) -> None:
    if summary == "[new branch]":
        found = None
    elif ".." in summary:
        found = summary.split("..")[0]  # abbreviated old tip
    else:
        return  # up to date: nothing moved
    if (found is None) != (expect is None) or (found and expect and not expect.startswith(found)):
        logger.info(
            "push to %s %s: remote tip was %s, expected %s; the push still only added commits",
            url.display, ref, found or "absent", expect or "absent",
        )


def _timed_out(op: str, url: RemoteUrl, timeout: float, detail: str) -> TransportError:
    return RemoteUnreachable(f"{op} {url.display}: no answer for {timeout:g} s",
                             remote=url.display, detail=_scrub(detail), hint=_RETRY_NETWORK)


_HOST_KEY = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
             "host key is known for")
_AUTH = ("Permission denied (", "Permission denied, please try again",
         "Too many authentication failures", "Authentication failed", "could not read Username",
         "could not read Password", "returned error: 401", "returned error: 403")
_NOT_FOUND = ("does not appear to be a git repository", "Repository not found",
              "did you run git update-server-info", "returned error: 404", "does not exist")
_UNREACHABLE = ("Could not resolve host", "Name or service not known", "name resolution",
                "nodename nor servname", "Connection refused", "timed out", "No route to host",
                "Network is unreachable", "Connection reset", "Connection closed by",
                "kex_exchange_identification", "Failed to connect to", "Could not connect",
                "Couldn't connect to server", "the remote end hung up unexpectedly",
                "SSL_ERROR", "gnutls_handshake")


def _failure(op: str, url: RemoteUrl, result: GitResult) -> GitsyncError:
    """Turn a failed git run into the error that says what the user can do about it."""
    text, detail, where = result.detail, _scrub(result.detail), url.display
    host = url.host or where
    login = url.ssh_login_command() or f"ssh {host}"
    if url.kind is RemoteKind.SSH and any(s in text for s in _HOST_KEY):
        if "IDENTIFICATION HAS CHANGED" in text:
            return HostKeyError(
                f"the SSH host key of {host} has CHANGED since it was accepted",
                remote=where, host=url.host, changed=True, detail=detail,
                hint="someone may be intercepting the connection; if the server was reinstalled,"
                f" remove the old key with `ssh-keygen -R {host}` and run `{login}` once to"
                " check and accept the new one",
            )
        return HostKeyError(
            f"the SSH host key of {host} is unknown or has changed",
            remote=where, host=url.host, changed=False, detail=detail,
            hint=f"run `{login}` once in a terminal to verify and accept it;"
            " gitsync never accepts host keys by itself",
        )
    if any(s in text for s in _AUTH):
        hint = (
            "store the credentials in a git credential helper; gitsync cannot ask for them"
            if url.kind is RemoteKind.HTTPS
            else f"check that your key is loaded (ssh-add -l) and authorized on the server;"
            f" `{login}` shows what happens"
        )
        return AuthError(f"{host} refused the login", remote=where, detail=detail, hint=hint)
    if any(s in text for s in _NOT_FOUND):
        return RemoteNotFound(f"no repository at {where}", remote=where, detail=detail,
                              hint="check the remote URL and that the repository exists")
    if "Unable to create '" in text and ".lock'" in text:
        lock = text.split("Unable to create '", 1)[1].split("'", 1)[0]
        return LockedError(f"{op} {where}: a git lock file is held", lock_path=lock,
                           hint="will retry")
    if any(s in text for s in _UNREACHABLE):
        return RemoteUnreachable(f"cannot reach {host}", remote=where, detail=detail,
                                 hint=_RETRY_NETWORK)
    if "unknown option" in text:
        return RuntimeFailure(f"git {op}: this git is too old", hint="gitsync needs git 2.29+")
    return TransportError(f"git {op} {where} failed (exit {result.returncode})", remote=where,
                          detail=detail, hint="will retry; git's output is in the log")


def _scrub(text: str) -> str:
    return redact(text).strip()


# -- running git -------------------------------------------------------------------------------

# "Receiving objects:  45% (9/20), 1.20 MiB | 2.00 MiB/s", also behind "remote: ".
_PROGRESS = re.compile(
    r"^(?:remote: )?(?P<phase>[A-Z][A-Za-z ]*?):\s+\d+% \((?P<done>\d+)/(?P<total>\d+)\)"
)
# Counters without a total ("remote: Enumerating objects: 32, done.") are progress too.
_PROGRESS_COUNTER = re.compile(r"^(?:remote: )?[A-Z][A-Za-z ]*: \d+(?:, done\.)?\s*$")
_EXIT_GRACE = 0.5  # s to wait for pipes after git exited (a ControlPersist ssh may hold them)


@dataclass(frozen=True)
class GitResult:
    """What a git run produced: exit status, stdout, and stderr without progress lines."""

    returncode: int
    stdout: str
    detail: str


class _StderrLines:
    """Splits git's stderr on CR/LF, reports progress lines and keeps the rest."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self._on_progress = on_progress
        self._pending = ""
        self._kept: list[str] = []

    def feed(self, chunk: bytes) -> None:
        *lines, self._pending = re.split(r"[\r\n]", self._pending + chunk.decode(errors="replace"))
        for line in lines:
            self._line(line)

    def close(self) -> str:
        self._line(self._pending)
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


def run_git(
    args: Sequence[str],
    *,
    git: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_progress: ProgressCallback | None = None,
    unreachable: Callable[[str], GitsyncError] | None = None,
) -> GitResult:
    """Run ``git --no-optional-locks ARGS`` and collect its output without ever hanging.

    git runs in a new session (no terminal for ssh to prompt on; one process group to stop).
    If it prints nothing for ``timeout`` seconds, or the caller is interrupted (including by
    an exception from ``on_progress``), the whole group is terminated and git reaped before
    the error propagates; a timeout raises ``unreachable(stderr so far)``.
    """
    try:
        proc = subprocess.Popen(
            [git, "--no-optional-locks", *args], cwd=cwd, env=dict(env),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        raise RuntimeFailure(f"cannot run {git} in {cwd}: {e.strerror}",
                             hint="install git and make sure it is on PATH") from e
    assert proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    err = _StderrLines(on_progress)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    last_output = time.monotonic()
    exited_at: float | None = None
    try:
        while sel.get_map():
            events = sel.select(timeout=0.1)
            now = time.monotonic()
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.data == "out":
                    out += chunk
                else:
                    err.feed(chunk)
                last_output = now
            if proc.poll() is not None:
                exited_at = exited_at or now
                if not events and now - exited_at > _EXIT_GRACE:
                    break  # git is done; whoever still holds the pipes is not ours to wait for
            elif now - last_output > timeout:
                _stop_group(proc)
                if unreachable is not None:
                    raise unreachable(err.close())
                raise RuntimeFailure(f"git {args[0]} gave no sign of life for {timeout:g} s")
        proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
    return GitResult(proc.returncode, out.decode(errors="replace"), err.close())


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
