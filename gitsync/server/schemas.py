"""The JSON API's shapes, mirroring the CLI's ``--json`` output (``CommitInfo.to_json``,
``ConflictRecord.to_json``, ``gitsync sync --json``), so a script reads both alike.

Loose parts (diff hunks, preview blocks, conflict segments) are plain objects here: their
fields are the service's, documented in its docstrings, and vary by file kind.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Change(BaseModel):
    path: str
    kind: str  # added | edited | deleted | renamed
    old_path: str | None = None


class Commit(BaseModel):
    id: str
    summary: str
    message: str
    author: str
    device: str | None
    time: int
    parents: list[str]
    changes: list[Change] = []
    changes_truncated: bool = False


class Folder(BaseModel):
    id: str
    path: str
    device: str
    remote: str
    state: str
    last_commit: Commit | None
    pending: int
    conflicts: int
    last_error: str | None
    offline_since: float | None
    paused: bool = False
    state_reason: str | None = None


class FolderList(BaseModel):
    folders: list[Folder]


class History(BaseModel):
    commits: list[Commit]
    next_cursor: str | None


class TreeEntry(BaseModel):
    path: str
    type: Literal["file", "dir"]
    size: int | None
    last_commit: Commit | None


class Tree(BaseModel):
    rev: str | None
    entries: list[TreeEntry]


class DeletedFile(BaseModel):
    path: str
    commit: Commit
    last_rev: str


class DeletedList(BaseModel):
    deleted: list[DeletedFile]


class Diff(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["text", "docx", "binary"]
    path: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    hunks: list[dict[str, Any]]
    old_size: int | None = None
    new_size: int | None = None


class Preview(BaseModel):
    kind: Literal["text", "docx", "binary"]
    text: str | None = None
    blocks: list[dict[str, Any]] | None = None
    size: int | None = None


class ConflictHunk(BaseModel):
    where: str
    base: str
    ours: str
    theirs: str


class Conflict(BaseModel):
    id: str
    path: str
    copy_path: str | None
    kind: str
    base: str | None  # blob ids
    ours: str | None
    theirs: str | None
    ours_device: str
    theirs_device: str
    time: float
    hunks: list[ConflictHunk] = []
    in_document: bool = False
    record_path: str


class ConflictList(BaseModel):
    conflicts: list[Conflict]


class ConflictDetail(Conflict):
    """A conflict with the three versions' content in place of their blob ids."""

    base: str | None  # text, or null when absent or binary
    ours: str | None
    theirs: str | None
    docx: bool
    segments: list[dict[str, Any]]
    count: int


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="a file or a directory of the folder; \"\" is the whole folder")
    rev: str = Field(description="a commit id or a time (2h, yesterday, 2026-11-01 14:30)")
    exact: bool = Field(default=False,
                        description="for a directory: also delete files added since REV")


class CommitResult(BaseModel):
    commit: Commit | None


Take = Literal["ours", "theirs", "both"]


class HunkChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    take: Literal["ours", "theirs", "both", "base"]


class ResolveRequest(BaseModel):
    """Exactly one of: a side for the whole file, a side per hunk, or the full new content."""

    model_config = ConfigDict(extra="forbid")

    take: Take | None = None
    hunks: list[HunkChoice] | None = None
    content_base64: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ResolveRequest:
        given = [n for n in ("take", "hunks", "content_base64") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of take, hunks, content_base64")
        return self


class ResolveResult(BaseModel):
    commit: Commit | None
    resolved: Conflict
    choice: str


class SyncResult(BaseModel):
    path: str
    committed: Commit | None
    action: str
    head: str | None
    pushed: str | None
    written: list[str]
    removed: list[str]
    waiting: dict[str, str]
    new_conflicts: list[Conflict]
    open_conflicts: int


class PauseResult(BaseModel):
    id: str
    paused: bool
