"""The writes a user can ask of a folder, each run by whoever owns the folder.

Without a daemon, :class:`gitsync.service.Service` takes the folder's owner lock and runs
the operation itself; with one, the request travels over :mod:`gitsync.channel` and the
folder's worker runs the very same function on its own thread. Results cross the channel
as JSON, so each operation says how to encode and decode its result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitsync import resolve as resolve_mod
from gitsync.conflicts import ConflictRecord
from gitsync.errors import UserError
from gitsync.model import CommitInfo
from gitsync.restore import restore_file
from gitsync.round import FolderParts, run_round
from gitsync.sync import SyncOutcome


@dataclass(frozen=True)
class RoundReport:
    committed: CommitInfo | None
    outcome: SyncOutcome
    open_conflicts: list[ConflictRecord]

    def to_json(self) -> dict[str, Any]:
        return {"committed": self.committed.to_json() if self.committed else None,
                "outcome": self.outcome.to_json(),
                "open_conflicts": [c.to_json() for c in self.open_conflicts]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RoundReport:
        return cls(CommitInfo.from_json(d["committed"]) if d["committed"] else None,
                   SyncOutcome.from_json(d["outcome"]),
                   [ConflictRecord.from_json(c) for c in d["open_conflicts"]])


def sync_now(parts: FolderParts) -> RoundReport:
    """Commit everything pending, then fetch, merge and push."""
    result = run_round(parts)
    return RoundReport(result.committed, result.outcome,
                       resolve_mod.list_conflicts(parts.repo))


def push(parts: FolderParts) -> SyncOutcome:
    """Share what is committed (after a clone); nothing pending is committed."""
    return parts.syncer.sync(parts.committer)


def restore(parts: FolderParts, path: str, commit: str) -> CommitInfo | None:
    return restore_file(parts.repo, parts.committer, parts.updater, path, commit)


def resolve(parts: FolderParts, path: str, choice: str, with_file: str | None = None
            ) -> resolve_mod.Resolution:
    if choice not in ("ours", "theirs", "file"):
        raise UserError(f"unknown resolution {choice!r}", hint="use ours, theirs or file")
    rec = resolve_mod.find_conflict(parts.repo, path)
    # Saves not yet committed stay in history before the resolution replaces them.
    parts.committer.commit([p for p in (rec.path, rec.copy_path) if p])
    return resolve_mod.resolve(parts.repo, parts.updater, path, device=parts.folder.device,
                               choice=choice, with_file=Path(with_file) if with_file else None)


def _commit_or_none(d: Any) -> CommitInfo | None:
    return CommitInfo.from_json(d) if d else None


@dataclass(frozen=True)
class Operation:
    run: Callable[..., Any]  # (parts, **args) -> result
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


OPERATIONS: dict[str, Operation] = {
    "sync": Operation(sync_now, RoundReport.to_json, RoundReport.from_json),
    "push": Operation(push, SyncOutcome.to_json, SyncOutcome.from_json),
    "restore": Operation(restore, lambda c: c.to_json() if c else None, _commit_or_none),
    "resolve": Operation(resolve, lambda r: r.to_json(), resolve_mod.Resolution.from_json),
}
