"""One verdict on every folder, for scripts and monitors (``gitsync status --json``'s exit
code): healthy, needs attention, or the daemon is not running.

Pure: folder statuses (as ``FolderStatus.to_json`` gives them) and ``now`` in, verdict out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

OFFLINE_ATTENTION_S = 600.0  # offline for longer than this needs a person


class Health(NamedTuple):
    status: str  # healthy | attention | not running
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "reasons": list(self.reasons)}


def judge(folders: Iterable[Mapping[str, Any]], *, daemon_running: bool, now: float,
          offline_after: float = OFFLINE_ATTENTION_S) -> Health:
    """What needs a person: an open conflict, a folder in error or stopped from syncing, a
    repository gitsync will not touch (a merge in progress...), files too large to sync, or
    a remote out of reach for longer than OFFLINE_AFTER. A pause the user asked for is not."""
    reasons: list[str] = []
    for f in folders:
        path = str(f.get("path"))
        conflicts = int(f.get("conflicts") or 0)
        if conflicts:
            reasons.append(f"{path}: {conflicts} conflict(s) to settle")
        if f.get("state") == "error":
            reasons.append(f"{path}: {f.get('last_error') or f.get('state_reason') or 'error'}")
        if f.get("sync_stopped"):
            reasons.append(f"{path}: syncing stopped: {f['sync_stopped']}")
        reason = str(f.get("state_reason") or "")
        if f.get("state") == "paused" and reason != "paused by you":
            reasons.append(f"{path}: paused: {reason}")
        for s in f.get("skipped") or ():
            if "too large" in str(s.get("reason", "")):
                reasons.append(f"{path}: {s.get('path')} is not synced ({s.get('reason')})")
        since = f.get("offline_since")
        if isinstance(since, int | float) and now - since > offline_after:
            reasons.append(f"{path}: offline for {int((now - since) // 60)} min")
    if not daemon_running:
        return Health("not running", ("the daemon is not running ('gitsync run' starts it)",
                                      *reasons))
    return Health("attention" if reasons else "healthy", tuple(reasons))
