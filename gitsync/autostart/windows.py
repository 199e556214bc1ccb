"""Windows: a script in the user's Startup folder that starts gitsync with ``pythonw``.

``pythonw`` has no console, so after the script's own brief start nothing stays on screen;
``start ""`` lets the script end at once instead of waiting for the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PureWindowsPath

FILE_NAME = "gitsync.cmd"


def startup_path(env: Mapping[str, str]) -> PureWindowsPath:
    appdata = env.get("APPDATA") or str(PureWindowsPath(env.get("USERPROFILE", "C:\\"),
                                                        "AppData", "Roaming"))
    return PureWindowsPath(appdata, "Microsoft", "Windows", "Start Menu", "Programs",
                           "Startup", FILE_NAME)


def pythonw_for(python: str) -> str:
    """The console-less interpreter beside the venv's ``python.exe``."""
    p = PureWindowsPath(python)
    return str(p.with_name("pythonw.exe"))


def startup_cmd_text(pythonw: str, gitsync_home: str | None) -> str:
    lines = ["@echo off"]
    if gitsync_home:
        lines.append(f'set "GITSYNC_HOME={gitsync_home}"')
    lines.append(f'start "" "{pythonw}" -m gitsync.cli run')
    return "\r\n".join(lines) + "\r\n"
