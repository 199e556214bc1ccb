"""The macOS LaunchAgent: started at login, restarted when it exits with a failure."""

from __future__ import annotations

import plistlib
from collections.abc import Sequence
from pathlib import Path

LABEL = "org.gitsync.gitsync"


def plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def plist_bytes(argv: Sequence[str], gitsync_home: str | None, log_dir: Path) -> bytes:
    doc: dict[str, object] = {
        "Label": LABEL,
        "ProgramArguments": list(argv),
        "RunAtLoad": True,
        # Restart after a crash, not after a clean stop (`launchctl bootout`, SIGTERM).
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "ProcessType": "Background",
        "StandardOutPath": str(log_dir / "launchd.out.log"),
        "StandardErrorPath": str(log_dir / "launchd.err.log"),
    }
    if gitsync_home:
        doc["EnvironmentVariables"] = {"GITSYNC_HOME": gitsync_home}
    return plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=True)


def bootstrap(uid: int, path: Path) -> list[str]:
    return ["launchctl", "bootstrap", f"gui/{uid}", str(path)]


def bootout(uid: int, path: Path) -> list[str]:
    return ["launchctl", "bootout", f"gui/{uid}", str(path)]
