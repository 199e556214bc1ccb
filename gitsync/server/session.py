"""The web token, the session cookie and the CSRF token, with nothing but the standard library.

The token lives in ``state_dir/web-token`` (mode 0600) and is the one secret: ``gitsync web``
prints it inside the login URL, scripts send it as ``Authorization: Bearer TOKEN``. The
session cookie and the CSRF token are derived from it with HMAC, so they need no server-side
store, survive a daemon restart, and never reveal the token itself. ``gitsync web`` imports
this module alone, so it stays free of the web framework.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import string
from pathlib import Path

from gitsync.config import Paths
from gitsync.fsutil import atomic_write

COOKIE = "gitsync_session"
CSRF_HEADER = "x-csrf-token"
TOKEN_FILE = "web-token"
ADDRESS_FILE = "web.json"
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-_")


def token_path(paths: Paths) -> Path:
    return paths.state_dir / TOKEN_FILE


def _valid(token: str) -> bool:
    return len(token) >= 32 and set(token) <= _TOKEN_CHARS


def read_or_create_token(paths: Paths) -> str:
    """The token of this gitsync home, created on first need.

    Creation is atomic and race-free: the token is written to a private temp file (0600 from
    the start) and hard-linked into place, which fails if another process got there first,
    in which case that process's token is the one."""
    path = token_path(paths)
    existing = _read_token(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            theirs = _read_token(path)
            if theirs is not None:
                return theirs
            os.replace(tmp, path)  # the file there is not a token: ours replaces it
    finally:
        tmp.unlink(missing_ok=True)
    return token


def _read_token(path: Path) -> str | None:
    try:
        token = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if not _valid(token):
        return None
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # someone loosened it; the token must stay the user's alone
    return token


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), f"gitsync {purpose}".encode(), hashlib.sha256).hexdigest()


def session_value(token: str) -> str:
    """The session cookie's value for TOKEN."""
    return _derive(token, "session")


def csrf_value(token: str) -> str:
    """The CSRF token pages send back in ``X-CSRF-Token`` on every write."""
    return _derive(token, "csrf")


def same(a: str | None, b: str) -> bool:
    """Constant-time comparison of a secret someone sent with the one we expect."""
    if a is None:
        return False
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode())


def url_host(host: str) -> str:
    """HOST as it appears in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def login_url(token: str, port: int, host: str = "127.0.0.1") -> str:
    return f"http://{url_host(host)}:{port}/login?token={token}"


# The running server's address, so that `gitsync web` prints the port the daemon really
# listens on (a `--port` flag or a setting changed since the daemon started).
def address_path(paths: Paths) -> Path:
    return paths.state_dir / ADDRESS_FILE


def write_address(paths: Paths, host: str, port: int) -> None:
    atomic_write(address_path(paths), json.dumps(
        {"pid": os.getpid(), "host": host, "port": port}) + "\n")


def read_address(paths: Paths) -> dict[str, object] | None:
    try:
        doc = json.loads(address_path(paths).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def clear_address(paths: Paths) -> None:
    address_path(paths).unlink(missing_ok=True)


def open_in_browser(url: str) -> bool:
    """Open URL in the default browser; False where there is none to open (on Linux and
    BSD without a display a "browser" could only be a text one taking over the terminal)."""
    import sys
    import webbrowser

    if (sys.platform.startswith("linux") or "bsd" in sys.platform) and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False
