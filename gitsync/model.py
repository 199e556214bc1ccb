"""Plain data passed between layers: frozen dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ChangeKind(StrEnum):
    ADDED = "added"
    MODIFIED = "edited"
    DELETED = "deleted"
    RENAMED = "renamed"


@dataclass(frozen=True)
class Author:
    """Who a commit is by (author and committer alike)."""

    name: str
    email: str


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: ChangeKind
    old_path: str | None = None


@dataclass(frozen=True)
class CommitInfo:
    id: str
    message: str
    summary: str
    author: str
    device: str | None
    time: int  # seconds since the epoch
    offset: int  # minutes east of UTC
    parents: tuple[str, ...]
    changes: tuple[FileChange, ...] = ()
    changes_truncated: bool = False  # only the first of its changes are listed

    def to_json(self) -> dict[str, object]:
        extra: dict[str, object] = {"changes_truncated": True} if self.changes_truncated else {}
        return {
            "id": self.id,
            "summary": self.summary,
            "message": self.message,
            "author": self.author,
            "device": self.device,
            "time": self.time,
            "parents": list(self.parents),
            "changes": [
                {"path": c.path, "kind": c.kind.value, "old_path": c.old_path}
                for c in self.changes
            ],
            **extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CommitInfo:
        return cls(id=d["id"], message=d["message"], summary=d["summary"], author=d["author"],
                   device=d["device"], time=int(d["time"]), offset=int(d.get("offset", 0)),
                   parents=tuple(d["parents"]),
                   changes=tuple(FileChange(c["path"], ChangeKind(c["kind"]), c["old_path"])
                                 for c in d["changes"]),
                   changes_truncated=bool(d.get("changes_truncated", False)))


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class FolderStatus:
    path: str
    device: str
    remote: str
    branch: str
    state: str  # idle | watching | paused | error | stopped | offline
    state_reason: str | None
    last_commit: CommitInfo | None
    pending: tuple[str, ...]
    skipped: tuple[SkippedFile, ...] = ()
    last_error: str | None = None
    daemon_running: bool = False
    ahead: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "device": self.device,
            "remote": self.remote,
            "branch": self.branch,
            "state": self.state,
            "state_reason": self.state_reason,
            "last_commit": self.last_commit.to_json() if self.last_commit else None,
            "pending": list(self.pending),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "last_error": self.last_error,
            "daemon_running": self.daemon_running,
            "unpushed_commits": self.ahead,
            **self.extra,
        }


@dataclass(frozen=True)
class TreeEntry:
    """One child of a directory as it was at some commit (for browsing a folder)."""

    path: str  # from the folder's root
    type: str  # "file" | "dir"
    size: int | None
    last_commit: CommitInfo | None  # the newest commit (up to that one) that changed it

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "type": self.type, "size": self.size,
                "last_commit": self.last_commit.to_json() if self.last_commit else None}


@dataclass(frozen=True)
class DeletedFile:
    path: str
    commit: CommitInfo  # the commit that deleted it
    last_rev: str  # the commit before the delete, where the file still exists

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "commit": self.commit.to_json(), "last_rev": self.last_rev}
