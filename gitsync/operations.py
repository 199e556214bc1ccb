"""The writes a user can ask of a folder, each run by whoever owns the folder.

Without a daemon, :class:`gitsync.service.Service` takes the folder's owner lock and runs
the operation itself; with one, the request travels over :mod:`gitsync.channel` and the
folder's worker runs the very same function on its own thread. Results cross the channel
as JSON, so each operation says how to encode and decode its result.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitsync import resolve as resolve_mod
from gitsync.conflicts import ConflictRecord
from gitsync.errors import FolderError, MissingPathError, UserError
from gitsync.folderstate import is_paused, set_paused
from gitsync.model import CommitInfo
from gitsync.restore import restore_file, restore_tree
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


def _check_not_paused(parts: FolderParts) -> None:
    if parts.state_file is not None and is_paused(parts.state_file):
        raise FolderError(f"{parts.folder.path} is paused", path=str(parts.folder.path),
                          hint="resume it to sync again")


def sync_now(parts: FolderParts) -> RoundReport:
    """Commit everything pending, then fetch, merge and push."""
    _check_not_paused(parts)
    result = run_round(parts)
    return RoundReport(result.committed, result.outcome,
                       resolve_mod.list_conflicts(parts.repo))


def push(parts: FolderParts) -> SyncOutcome:
    """Share what is committed (after a clone); nothing pending is committed."""
    return parts.syncer.sync(parts.committer)


def restore(parts: FolderParts, path: str, commit: str, exact: bool = False
            ) -> CommitInfo | None:
    """A file, a directory or ("") the whole folder as it was in COMMIT, as a new commit."""
    kind = parts.repo.kind_at(commit, path)
    if kind == "dir":
        return restore_tree(parts.repo, parts.committer, parts.updater, path, commit,
                            exact=bool(exact))
    if kind is None:
        raise MissingPathError(f"{path} does not exist in version {commit[:10]}", path=path,
                               hint="see its history for the versions it has")
    return restore_file(parts.repo, parts.committer, parts.updater, path, commit)


def resolve(parts: FolderParts, path: str | None = None, choice: str | None = None,
            with_file: str | None = None, *, conflict_id: str | None = None,
            take: str | None = None, hunks: list[dict[str, Any]] | None = None,
            content_base64: str | None = None) -> resolve_mod.Resolution:
    """Settle a conflict: by PATH and CHOICE (the CLI: ours, theirs, or WITH_FILE's
    content), or by CONFLICT_ID with TAKE, per-conflict HUNKS or the full content
    (CONTENT_BASE64), as the web page sends them (see resolve.settled_content)."""
    if conflict_id is not None or path is None:
        return _resolve_by_id(parts, conflict_id, take, hunks, content_base64)
    if choice not in ("ours", "theirs", "file"):
        raise UserError(f"unknown resolution {choice!r}", hint="use ours, theirs or file")
    rec = resolve_mod.find_conflict(parts.repo, path)
    # Saves not yet committed stay in history before the resolution replaces them.
    parts.committer.commit([p for p in (rec.path, rec.copy_path) if p])
    return resolve_mod.resolve(parts.repo, parts.updater, path, device=parts.folder.device,
                               choice=choice, with_file=Path(with_file) if with_file else None)


def _resolve_by_id(parts: FolderParts, conflict_id: str | None, take: str | None,
                   hunks: list[dict[str, Any]] | None, content_base64: str | None
                   ) -> resolve_mod.Resolution:
    if not isinstance(conflict_id, str):
        raise UserError("which conflict? give its id")
    content = None
    if content_base64 is not None:
        try:
            content = base64.b64decode(content_base64, validate=True)
        except (ValueError, TypeError) as e:
            raise UserError("the content is not valid base64") from e
    rec = resolve_mod.find_conflict_id(parts.repo, conflict_id)
    # Saves not yet committed stay in history before the resolution replaces them.
    parts.committer.commit([p for p in (rec.path, rec.copy_path) if p])
    data, label, choice = resolve_mod.settled_content(parts.repo, rec, take=take, hunks=hunks,
                                                      content=content)
    return resolve_mod.resolve_with(parts.repo, parts.updater, rec,
                                    device=parts.folder.device, data=data, choice=choice,
                                    label=label)


def pause(parts: FolderParts) -> None:
    """Stop committing and syncing the folder until :func:`resume` (kept across restarts);
    saves made meanwhile are committed on resume."""
    if parts.state_file is None:
        raise FolderError("this folder's state cannot be kept", path=str(parts.folder.path))
    set_paused(parts.state_file, True)


def resume(parts: FolderParts) -> None:
    if parts.state_file is None:
        raise FolderError("this folder's state cannot be kept", path=str(parts.folder.path))
    set_paused(parts.state_file, False)


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
    "pause": Operation(pause, lambda _r: None, lambda _d: None),
    "resume": Operation(resume, lambda _r: None, lambda _d: None),
}
