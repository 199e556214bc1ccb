"""What a running daemon says about each folder, in a small JSON file ``status`` reads.

The worker owns the file (``state_dir/folders/<key>.json``); ``gitsync status`` reads it
from another process without importing the daemon's machinery (watchdog, the worker).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitsync.fsutil import atomic_write


@dataclass
class FolderState:
    """What ``status`` shows about a folder while the daemon runs."""

    state: str = "starting"
    reason: str | None = None
    pending: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    retrying: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
    offline_since: float | None = None
    last_commit: str | None = None
    last_push: float | None = None
    last_sync: float | None = None
    waiting: dict[str, str] = field(default_factory=dict)
    sync_stopped: str | None = None
    polling_every: float | None = None  # seconds between scans when not watched
    pid: int = field(default_factory=os.getpid)
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def write_state(path: Path, state: FolderState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state.updated = time.time()
    # Rewritten on every change and rebuilt at start-up: not worth an fsync.
    atomic_write(path, json.dumps(state.to_json(), indent=1), durable=False)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: What status shows while a user's pause holds a folder.
USER_PAUSE_REASON = "paused by you"


def pause_file(state_file: Path) -> Path:
    """Where a user's pause of a folder is kept (beside its state file): it outlives the
    daemon, so a paused folder stays paused across restarts until resumed."""
    return state_file.with_suffix(".paused")


def is_paused(state_file: Path) -> bool:
    return pause_file(state_file).exists()


def set_paused(state_file: Path, paused: bool) -> None:
    flag = pause_file(state_file)
    if paused:
        flag.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(flag, f"{time.time()}\n")
    else:
        flag.unlink(missing_ok=True)
