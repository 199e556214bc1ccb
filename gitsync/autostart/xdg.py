"""The XDG autostart entry: desktops without a systemd user session start gitsync on login.

No restart on failure here (the desktop only launches it); that is what the systemd unit adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

FILE_NAME = "gitsync.desktop"


def desktop_path(home: Path, env: Mapping[str, str]) -> Path:
    config = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(config) / "autostart" / FILE_NAME


def _quote(word: str) -> str:
    """An argument of Exec= as the Desktop Entry Specification quotes it."""
    if word and not any(c in word for c in ' \t\n"\'\\><~|&;$*?#()`%='):
        return word
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in word)
    return '"' + escaped.replace("%", "%%") + '"'


def desktop_text(argv: Sequence[str], gitsync_home: str | None) -> str:
    exec_words = [_quote(w) for w in argv]
    if gitsync_home:
        exec_words = ["env", _quote(f"GITSYNC_HOME={gitsync_home}"), *exec_words]
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=gitsync",
        "Comment=Sync folders through git: every save a commit",
        "Exec=" + " ".join(exec_words),
        "Terminal=false",
        "NoDisplay=true",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])
