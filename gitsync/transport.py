"""Network transfer (ls-remote, fetch, push, clone) through the system ``git`` executable.

Why a subprocess and not pygit2: SSH must behave exactly as it does for ``git`` itself, so
``~/.ssh/config`` host aliases, the ssh-agent, keys and ``known_hosts`` all just work; pygit2
stays for local work. This is the only module that runs git for network transfer.

What every call promises:

* It never prompts. ``GIT_TERMINAL_PROMPT=0``; git runs in its own session, so ssh has no
  terminal to ask on; and unless the user configured their own ``GIT_SSH_COMMAND``, ``GIT_SSH``
  or ``core.sshCommand`` (kept exactly as is), ssh runs as :data:`DEFAULT_SSH_COMMAND`
  (``BatchMode=yes``, ``ConnectTimeout=10``). An unknown or changed host key is therefore
  refused (:class:`HostKeyError`), never accepted silently. A daemon's transports also share
  one connection per host (:attr:`Transport.connections`, see :mod:`gitsync.sshmux`); a
  user's own ssh command is never changed for that.
* It never forces. Pushes are plain fast-forward pushes (``--atomic --porcelain``); a remote that
  moved on raises :class:`PushRejected` so the caller fetches, merges and retries. Losing a
  race to another device's push is that same case, however git words it (see
  :func:`_lost_race`).
* It never hangs and never leaks a process. ``timeout`` is the longest git may stay silent
  (progress counts: transfers run with ``--progress``); past it the whole process group (git
  and its ssh) is terminated and :class:`RemoteUnreachable` raised.
* Failures are typed by what the user can do about them. Messages are ours; git's own output
  is kept in ``detail`` for logs, with secrets in URLs removed.
* A transfer is one git process. The URL a remote name stands for, and whether the user
  configured ``core.sshCommand``, are read once per :class:`Transport` and read again only
  when a git config file changes; a fetch reads the ref it wrote from the ref files.

git runs through :func:`gitsync.gitproc.run_git` (sealed environment, ``--no-optional-locks``,
no terminal, process-group stop). Needs git 2.29 or newer. POSIX only.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
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
from gitsync.gitlocks import clear_stale_locks
from gitsync.gitproc import GitResult, ProgressCallback, git_env, run_git
from gitsync.remoteurl import RemoteKind, RemoteUrl, parse_url, redact
from gitsync.sshmux import SshConnections

__all__ = [
    "DEFAULT_SSH_COMMAND",
    "AuthError",
    "HostKeyError",
    "PushRejected",
    "RemoteNotFound",
    "RemoteRef",
    "RemoteUnreachable",
    "Transport",
    "TransportError",
    "clone",
]

logger = logging.getLogger(__name__)

#: The ssh command used when the user configured none: never prompt, give up connecting in 10 s.
DEFAULT_SSH_COMMAND = "ssh -o BatchMode=yes -o ConnectTimeout=10"

_RETRY_NETWORK = "will retry; check the network"
_LOCAL_TIMEOUT = 30.0  # s for local git calls (config, rev-parse)
_OID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


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
    ``connections`` (may be set later, by whoever owns them) shares one SSH connection per
    host between transfers when gitsync builds the ssh command itself.
    """

    def __init__(self, repo_dir: Path, *, git: str = "git",
                 env: Mapping[str, str] | None = None, timeout: float = 120,
                 connections: SshConnections | None = None) -> None:
        self.repo_dir = Path(repo_dir)
        self.git = git
        self.env = dict(env or {})
        self.timeout = timeout
        self.connections = connections
        # Read once, kept while no git config file changes (see _settings_current).
        self._config_key: tuple[object, ...] | None = None
        self._urls: dict[tuple[str, bool], RemoteUrl] = {}
        self._ssh_configured: bool | None = None
        self._git_dir: Path | None = None
        self._git_dir_asked = False

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
        for line in result.text.splitlines():
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
            if "couldn't find remote ref" in result.stderr:
                return None
            raise _failure("fetch", url, result)
        oid = self._read_ref(into)
        if not oid:
            raise RepoError(f"fetched {into} but cannot read it back in {self.repo_dir}")
        return oid

    def push(self, remote: str, local_oid_or_ref: str, ref: str, *, expect: str | None) -> None:
        """Make the remote's ``ref`` point at ``local_oid_or_ref`` if that is a fast-forward.

        Never forces: git on the remote side checks, under its own ref lock, that its current
        tip is contained in what we send, so no remote commit can be lost. When it is not (the
        remote moved on, before or during the push), :class:`PushRejected` is raised and the
        remote is unchanged; the caller fetches, merges and pushes again. ``expect`` is the
        remote tip the caller merged with (None: it believes the branch does not exist yet);
        it is carried on :class:`PushRejected`, and a push that found another tip is logged.
        """
        full = _full_ref(ref)
        url = self._url(remote, push=True)
        args = ["push", "--atomic", "--porcelain", "--progress", "--", remote,
                f"{local_oid_or_ref}:{full}"]
        result = self._run(args, url=url, op="push")
        if _cleared_stale_hub_lock(url, result.stderr):
            result = self._run(args, url=url, op="push")
        status = _porcelain_status(result.text, full)
        if status is None:
            if result.returncode == 0:
                return
            if "src refspec" in result.stderr and "does not match any" in result.stderr:
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
        self._settings_current()
        known = self._urls.get((remote, push))
        if known is not None:
            return known
        url = ""
        if remote and push:
            url = self._local(["remote", "get-url", "--push", "--", remote])
        if remote and not url:
            url = self._local(["ls-remote", "--get-url", "--", remote])
        parsed = parse_url(url.splitlines()[0] if url else remote)
        self._urls[(remote, push)] = parsed
        return parsed

    def _settings_current(self) -> None:
        """Forget what was read from git's config once any config file (or variable) changed.

        A few ``stat`` calls instead of a git process per transfer; ``git remote set-url``
        rewrites the config file, so a changed remote is seen at the next transfer.
        """
        key = _config_key(self._gitdir(), git_env(self.env))
        if key != self._config_key:
            self._config_key = key
            self._urls.clear()
            self._ssh_configured = None

    def _gitdir(self) -> Path | None:
        """The repository's (common) git directory, asked of git once; None if git cannot say."""
        if not self._git_dir_asked:
            found = self._local(["rev-parse", "--git-common-dir"])
            self._git_dir = (self.repo_dir / found).resolve() if found else None
            self._git_dir_asked = True
        return self._git_dir

    def _read_ref(self, ref: str) -> str | None:
        """The oid ``ref`` holds, from the ref files when they are plain (no git process)."""
        gitdir = self._gitdir()
        oid = _ref_from_files(gitdir, ref) if gitdir is not None else None
        return oid or self._local(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])

    def _ssh_command_configured(self) -> bool:
        if self._ssh_configured is None:
            self._ssh_configured = _ssh_command_configured(self.git, self.repo_dir, self.env)
        return self._ssh_configured

    def _local(self, args: list[str]) -> str:
        """stdout of a quick local git command, or "" when it fails."""
        self._check_dir()
        result = run_git(args, git=self.git, cwd=self.repo_dir, env=self.env,
                         timeout=_LOCAL_TIMEOUT)
        return result.text.strip() if result.returncode == 0 else ""

    def _run(self, args: Sequence[str], *, url: RemoteUrl, op: str) -> GitResult:
        self._check_dir()
        logger.debug("git %s %s", op, url.display)
        connections, options = self.connections, []
        if connections is not None and url.kind is RemoteKind.SSH and not _own_ssh(
                self.env, self._ssh_command_configured):
            options = connections.options(url)
        env = _transfer_env(self.env, url=url, ssh_configured=self._ssh_command_configured,
                            ssh_options=options)
        release = connections.hold(url) if connections is not None and options else None
        started = time.monotonic()
        try:
            result = run_git(args, git=self.git, cwd=self.repo_dir, env=env,
                             timeout=self.timeout,
                             on_silence=lambda detail: _timed_out(op, url, self.timeout, detail))
        finally:
            if release is not None:
                release()
        logger.debug("git %s %s: exit %d after %.3f s", op, url.display, result.returncode,
                     time.monotonic() - started)
        return result

    def _check_dir(self) -> None:
        if not self.repo_dir.is_dir():
            raise RepoError(f"repository folder {self.repo_dir} does not exist")


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
        overrides = dict(env or {})
        result = run_git(
            args, git=git, cwd=Path.cwd(), timeout=timeout, on_progress=progress,
            env=_transfer_env(overrides, url=remote, ssh_configured=lambda:
                              _ssh_command_configured(git, None, overrides)),
            on_silence=lambda detail: _timed_out("clone", remote, timeout, detail),
        )
        if result.returncode != 0:
            if branch and "not found in upstream" in result.stderr:
                raise RemoteNotFound(f"{remote.display} has no branch {branch!r}",
                                     remote=remote.display, detail=_scrub(result.stderr),
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


def _transfer_env(overrides: Mapping[str, str], *, url: RemoteUrl | None,
                  ssh_configured: Callable[[], bool],
                  ssh_options: Sequence[str] = ()) -> dict[str, str]:
    """Variables a transfer runs with, over gitproc's sealed environment.

    For an SSH remote, ssh runs as :data:`DEFAULT_SSH_COMMAND` followed by ``ssh_options``
    (those that share a connection) unless the user chose their own (``GIT_SSH_COMMAND``,
    ``GIT_SSH`` or ``core.sshCommand``, which are then left exactly as they are).
    ``ssh_configured`` is asked only when it matters.
    """
    env = dict(overrides)
    env["GIT_PROGRESS_DELAY"] = "0"  # report progress at once: it is also our sign of life
    if url is not None and url.kind is RemoteKind.SSH and not _own_ssh(env, ssh_configured):
        env["GIT_SSH_COMMAND"] = " ".join([DEFAULT_SSH_COMMAND, *map(shlex.quote, ssh_options)])
    return env


def _own_ssh(overrides: Mapping[str, str], ssh_configured: Callable[[], bool]) -> bool:
    """Whether the user chose the ssh command (``GIT_SSH_COMMAND``, ``GIT_SSH`` in the
    environment git will see, or ``core.sshCommand``)."""
    sealed = git_env(overrides)
    return bool(sealed.get("GIT_SSH_COMMAND") or sealed.get("GIT_SSH") or ssh_configured())


def _ssh_command_configured(git: str, cwd: Path | None, overrides: Mapping[str, str]) -> bool:
    """Whether git's config (the repository's at ``cwd``, or only the user's and the system's
    when ``cwd`` is None, as for a clone) sets ``core.sshCommand``."""
    env = dict(overrides)
    if cwd is None:
        env["GIT_DIR"] = os.devnull
    result = run_git(["config", "--get", "core.sshCommand"], git=git, cwd=cwd or Path(os.sep),
                     env=env, timeout=_LOCAL_TIMEOUT)
    return result.returncode == 0 and bool(result.text.strip())


def _config_key(gitdir: Path | None, env: Mapping[str, str]) -> tuple[object, ...]:
    """Changes whenever git's configuration may have: the config files' identities and the
    variables that choose or add config. git rewrites a config file by renaming a new one
    over it, so a changed file always has a new inode."""
    home = env.get("HOME", "")
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [
        env.get("GIT_CONFIG_SYSTEM", "/etc/gitconfig"),
        env.get("GIT_CONFIG_GLOBAL", ""),
        os.path.join(home, ".gitconfig"),
        os.path.join(xdg, "git", "config"),
        str(gitdir / "config") if gitdir is not None else "",
    ]
    stats = tuple(_identity(f) for f in files)
    variables = tuple(sorted((k, v) for k, v in env.items()
                             if k.startswith("GIT_CONFIG") or k in ("HOME", "XDG_CONFIG_HOME")))
    return (*stats, *variables)


def _identity(path: str) -> tuple[int, int, int] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _ref_from_files(gitdir: Path, ref: str) -> str | None:
    """The oid of ``ref`` from a loose ref file or ``packed-refs``; None if not plainly there
    (a symbolic ref, another ref store), and the caller asks git instead."""
    try:
        text = (gitdir / ref).read_text().strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        text = ""
    except OSError:
        return None
    if text:
        return text if _OID.match(text) else None
    try:
        packed = (gitdir / "packed-refs").read_text()
    except OSError:
        return None
    for line in packed.splitlines():
        oid, _, name = line.partition(" ")
        if name == ref and _OID.match(oid):
            return oid
    return None


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


# What the remote says when another push moved the branch between our look at it and our
# update, or was updating it at that moment: the reason on the ref's line, or the remote's
# own error line in stderr ("cannot lock ref 'refs/heads/main': is at X but expected Y").
_RACE_WORDS = ("but expected", "reference already exists", "incorrect old value provided",
               ".lock': File exists")
# Reasons a ref update fails for a race, but also for a broken remote (no space, no rights).
_UPDATE_FAILED = ("atomic transaction failed", "failed to update ref", "failed to lock",
                  "cannot lock ref", "incorrect old value provided")
_NOT_A_RACE = ("Permission denied", "No space left", "Read-only file system",
               "Disk quota exceeded", "Input/output error")


def _lost_race(summary: str, reason: str, detail: str) -> bool:
    """Whether a refused push only lost to another device's push, so fetch-merge-push fixes it.

    ``[rejected]`` (``fetch first``, ``non-fast-forward``) is git's own check before sending.
    ``[remote rejected]`` with a failed ref update (``atomic transaction failed`` with
    ``--atomic``, ``failed to update ref`` without) means the remote's tip moved while the push
    was on its way, unless the remote's error says its disk or permissions are at fault. Any
    other ``[remote rejected]`` reason (a hook declined, a protected or checked-out branch, a
    shallow update) is a refusal a person must look at.
    """
    if summary.startswith("[rejected]"):
        return True
    if not summary.startswith("[remote rejected]"):
        return False
    if any(w in reason for w in _RACE_WORDS):
        return True
    if not reason.startswith(_UPDATE_FAILED):
        return False
    return not any(w in detail or w in reason for w in _NOT_A_RACE)


def _cleared_stale_hub_lock(url: RemoteUrl, stderr: str) -> bool:
    """A hub on this disk whose ref lock was left by a push killed with everything around
    it (a power cut) refuses every device's push for good: git never removes such a lock.
    Remove it, as for the folder's own locks, when no live process owns it; True if so."""
    if url.kind not in (RemoteKind.LOCAL, RemoteKind.FILE) or "Unable to create '" not in stderr:
        return False
    lock = Path(stderr.split("Unable to create '", 1)[1].split("'", 1)[0])
    hub = Path(url.path)
    if lock.suffix != ".lock" or not lock.resolve().is_relative_to(hub.resolve()):
        return False
    return bool(clear_stale_locks(hub, hub, only=lock))


def _push_refused(url: RemoteUrl, ref: str, summary: str, expect: str | None,
                  result: GitResult) -> TransportError:
    reason = summary[summary.find("(") + 1 : summary.rfind(")")] if "(" in summary else summary
    detail = _scrub(result.stderr)
    if _lost_race(summary, reason, result.stderr):
        return PushRejected(
            f"{url.display} has changes on {ref} that this device has not merged yet",
            remote=url.display, ref=ref, reason=reason, expected=expect, detail=detail,
            hint="will fetch, merge and push again",
        )
    # A hook, a protected branch, a checked-out branch, a broken remote: a person must act.
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
    text, detail, where = result.stderr, _scrub(result.stderr), url.display
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
