"""What kind of remote a URL names, decided the way git decides it.

gitsync accepts exactly the remotes git reaches by itself and that keep data private: a local
path, ``file://``, SSH (``ssh://`` or scp-like ``user@host:path``, including ``~/.ssh/config``
aliases) and ``https://``. Anything else (``http://``, ``git://``, ``ext::`` and other remote
helpers) is refused up front with a :class:`RemoteUrlError`, before git could run it.

The rules mirror git's own (``transport.c`` / ``connect.c``): ``scheme://`` is a URL; a colon
before any slash makes ``host:path`` SSH; otherwise it is a local path. Pure string logic: no
I/O, so it is safe to call while validating config or user input.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gitsync.errors import UserError

__all__ = ["RemoteKind", "RemoteUrl", "RemoteUrlError", "classify_url", "parse_url", "redact"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_HELPER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.\-]*)::")
_DOS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]*@")


class RemoteKind(enum.Enum):
    """How git reaches a remote."""

    LOCAL = "local"  # a filesystem path (git copies or hardlinks objects directly)
    FILE = "file"  # file:// URL (a path, but through git's pack protocol)
    SSH = "ssh"  # ssh://... or scp-like [user@]host:path
    HTTPS = "https"

    @property
    def is_network(self) -> bool:
        return self in (RemoteKind.SSH, RemoteKind.HTTPS)


class RemoteUrlError(UserError):
    """A remote URL gitsync will not use (unsupported or unsafe scheme, malformed)."""

    def __init__(self, message: str, *, url: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


@dataclass(frozen=True)
class RemoteUrl:
    """A classified remote URL.

    ``host``, ``port`` and ``user`` are set for SSH and HTTPS (``port``/``user`` only when
    written in the URL; for an SSH alias the host is the alias). ``path`` is the repository
    path as written. ``display`` is the URL with any password or token removed: use it in
    every message and log line.
    """

    url: str
    kind: RemoteKind
    host: str | None = None
    port: int | None = None
    user: str | None = None
    path: str = ""

    @property
    def display(self) -> str:
        return redact(self.url)

    def ssh_login_command(self) -> str | None:
        """The ``ssh`` command a person runs to reach this host (e.g. to accept its key)."""
        if self.kind is not RemoteKind.SSH or not self.host:
            return None
        # ssh takes IPv6 literals bare (the port goes in -p), so no brackets are needed.
        target = f"{self.user}@{self.host}" if self.user else self.host
        return f"ssh -p {self.port} {target}" if self.port else f"ssh {target}"


def redact(url: str) -> str:
    """``url`` with the user-info part of a ``scheme://user:secret@host`` URL replaced.

    Only the secret goes: ``https://alice:tok@host`` becomes ``https://alice@host``; a bare
    ``https://tok@host`` (token as user name) becomes ``https://***@host``.
    """

    def _strip(match: re.Match[str]) -> str:
        userinfo = match.group(0)[len(match.group("scheme")) : -1]
        user, sep, _secret = userinfo.partition(":")
        if sep:
            return f"{match.group('scheme')}{user}@"
        if match.group("scheme").lower().startswith("http"):
            return f"{match.group('scheme')}***@"
        return match.group(0)

    return _USERINFO.sub(_strip, url)


def classify_url(url: str) -> RemoteKind:
    """The kind of remote ``url`` names; raises :class:`RemoteUrlError` for any other."""
    return parse_url(url).kind


def parse_url(url: str) -> RemoteUrl:
    """Classify and split ``url``; raises :class:`RemoteUrlError` for unsupported remotes."""
    if not url or not url.strip():
        raise RemoteUrlError("empty remote URL", url=url, hint="give a path or an ssh/https URL")
    if url != url.strip() or any(ch in url for ch in "\n\r\0"):
        raise RemoteUrlError(
            f"remote URL {redact(url)!r} has surrounding spaces or control characters",
            url=url,
            hint="remove them",
        )
    if url.startswith("-"):
        raise RemoteUrlError(
            f"remote URL {url!r} starts with '-'", url=url, hint="prefix a path with ./"
        )
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        return _parse_scheme_url(url, scheme_match.group(1).lower())
    helper = _HELPER.match(url)
    if helper:
        raise RemoteUrlError(
            f"remote helper {helper.group(1)!r} is not supported",
            url=url,
            hint="use a path, an ssh:// or scp-like URL, or https://",
        )
    if _is_local_not_ssh(url):
        return RemoteUrl(url=url, kind=RemoteKind.LOCAL, path=url)
    return _parse_scp_like(url)


def _is_local_not_ssh(url: str) -> bool:
    # git's url_is_local_not_ssh(): no colon, or a slash before the first colon, or (on
    # Windows only) a drive letter.
    colon = url.find(":")
    slash = url.find("/")
    if colon < 0 or (0 <= slash < colon):
        return True
    return os.name == "nt" and bool(_DOS_DRIVE.match(url))


def _parse_scheme_url(url: str, scheme: str) -> RemoteUrl:
    if scheme == "file":
        return RemoteUrl(url=url, kind=RemoteKind.FILE, path=url[len("file://") :])
    if scheme in _SSH_SCHEMES or scheme == "https":
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise RemoteUrlError(
                f"malformed remote URL {redact(url)!r}", url=url, hint=str(e)
            ) from e
        if not parts.hostname:
            raise RemoteUrlError(
                f"remote URL {redact(url)!r} has no host name", url=url, hint="add the host"
            )
        if parts.hostname.startswith("-"):
            raise RemoteUrlError(f"remote host in {redact(url)!r} starts with '-'", url=url)
        kind = RemoteKind.HTTPS if scheme == "https" else RemoteKind.SSH
        return RemoteUrl(
            url=url,
            kind=kind,
            host=parts.hostname,
            port=port,
            user=parts.username,
            path=parts.path,
        )
    if scheme == "http":
        raise RemoteUrlError(
            f"plain http remote {redact(url)!r} is not supported",
            url=url,
            hint="use https:// (http sends data and passwords unencrypted)",
        )
    if scheme == "git":
        raise RemoteUrlError(
            f"git:// remote {redact(url)!r} is not supported",
            url=url,
            hint="git:// is unauthenticated and unencrypted; use ssh or https",
        )
    raise RemoteUrlError(
        f"unsupported remote URL scheme {scheme!r}",
        url=url,
        hint="use a path, file://, ssh://, user@host:path or https://",
    )


def _parse_scp_like(url: str) -> RemoteUrl:
    # [user@]host:path, with git's bracket form [user@host:port]:path / [host:port]:path for
    # ports and IPv6 literals.
    user: str | None = None
    port: int | None = None
    if url.startswith("[") and "]:" in url:
        inner, _, path = url[1:].partition("]:")
        host_part = inner
        if "@" in host_part:
            user, _, host_part = host_part.rpartition("@")
        if host_part.count(":") == 1:
            host_part, _, port_text = host_part.partition(":")
            port = _port(port_text, url)
        host = host_part
    else:
        host_part, _, path = url.partition(":")
        if "@" in host_part:
            user, _, host_part = host_part.rpartition("@")
        if host_part.startswith("[") and host_part.endswith("]"):
            host_part = host_part[1:-1]
        host = host_part
    if not host:
        raise RemoteUrlError(f"remote URL {url!r} has no host name", url=url)
    if host.startswith("-"):
        raise RemoteUrlError(f"remote host in {url!r} starts with '-'", url=url)
    return RemoteUrl(url=url, kind=RemoteKind.SSH, host=host, port=port, user=user, path=path)


def _port(text: str, url: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise RemoteUrlError(f"bad port {text!r} in remote URL {url!r}", url=url)
    return int(text)
