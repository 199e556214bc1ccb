"""The systemd user unit: gitsync run under the user's service manager, logging to the journal.

``Restart=on-failure`` with a start limit: a daemon that crashes is back after ``RestartSec``,
one that crashes in a loop is given up on after a few tries instead of spinning forever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

UNIT_NAME = "gitsync.service"
RESTART_SEC = 5


def unit_path(home: Path, env: Mapping[str, str]) -> Path:
    config = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def _quote(word: str) -> str:
    """A word of ExecStart= as systemd splits it (double quotes, backslash escapes)."""
    if word and not any(c in word for c in ' \t"\'\\$%;'):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return '"' + escaped.replace("%", "%%") + '"'


def unit_text(argv: Sequence[str], gitsync_home: str | None) -> str:
    lines = [
        "[Unit]",
        "Description=gitsync: sync folders through git",
        # Five failed starts within five minutes: stop trying, the journal says why.
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_quote(w) for w in argv),
        "Restart=on-failure",
        f"RestartSec={RESTART_SEC}",
    ]
    if gitsync_home:
        lines.append("Environment=" + _quote(f"GITSYNC_HOME={gitsync_home}"))
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return "\n".join(lines)


def systemctl(*args: str) -> list[str]:
    return ["systemctl", "--user", *args]


LINGER_ADVICE = ("On a machine nobody logs in to (a server), run 'loginctl enable-linger' "
                 "once so that your user manager, and gitsync with it, starts at boot.")
