"""One sync round of one folder, and the parts that write that folder.

A round commits what is pending, absorbs saves made to files that waited for their editor,
writes waiting files whose editor let go, then fetches, merges, updates the disk and pushes
(:meth:`gitsync.sync.Syncer.sync`). The daemon's worker and ``gitsync sync`` without a
daemon both run it; whoever runs it must own the folder (see :mod:`gitsync.owner`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitsync.committer import BatchResult, Committer
from gitsync.config import FolderConfig
from gitsync.errors import FolderError
from gitsync.ignore import IgnoreRules
from gitsync.model import CommitInfo
from gitsync.repo import Entry, Repo
from gitsync.sync import Syncer, SyncOutcome
from gitsync.waiting import WaitingFiles
from gitsync.worktree import WorktreeUpdater

OwnWrite = Callable[[str, Entry | None], None]


@dataclass
class FolderParts:
    """Everything that writes one folder, built once by its owner."""

    folder: FolderConfig
    repo: Repo
    committer: Committer
    updater: WorktreeUpdater
    syncer: Syncer
    #: The folder's state file (see gitsync.folderstate), set by whoever owns the folder;
    #: a user's pause is kept beside it.
    state_file: Path | None = None

    @classmethod
    def build(cls, folder: FolderConfig, settings: Mapping[str, Any], *,
              own_write: OwnWrite | None = None,
              clock: Callable[[], float] = time.time) -> FolderParts:
        """OWN_WRITE is told of every file the parts write, so a watcher can tell the
        owner's own writes from the user's."""
        if not folder.path.is_dir():
            raise FolderError(f"synced folder {folder.path} is missing", path=str(folder.path),
                              hint=f"restore it, or run 'gitsync forget {folder.path}'")
        repo = Repo(folder.path)
        committer = Committer(repo, folder.device, size_limit=int(settings["size_limit"]),
                              ignore=IgnoreRules(settings["ignore"]))
        updater = WorktreeUpdater(repo, own_write)
        syncer = Syncer(repo, folder.remote, folder.branch, device=folder.device,
                        updater=updater, clock=clock)
        return cls(folder, repo, committer, updater, syncer)

    @property
    def waiting(self) -> WaitingFiles:
        return self.syncer.waiting


@dataclass
class RoundResult:
    batch: BatchResult | None  # the commit of what was pending, if anything was
    outcome: SyncOutcome
    absorbed: list[str] = field(default_factory=list)  # saves merged into a waiting change
    written: list[str] = field(default_factory=list)  # waiting files written at last

    @property
    def committed(self) -> CommitInfo | None:
        return self.batch.commit if self.batch else None


def run_round(parts: FolderParts, pending: Sequence[str] | None = None) -> RoundResult:
    """Commit PENDING (None: scan the folder for every change), then sync.

    Raises :class:`FolderError` while the user's own git operation (a merge, a rebase)
    is in progress in the folder, and the errors of :meth:`Syncer.sync`.
    """
    repo = parts.repo
    reason = repo.pause_reason()
    if reason:
        raise FolderError(f"{parts.folder.path} is paused: {reason}",
                          path=str(parts.folder.path))
    absorbed = parts.waiting.absorb(None if pending is None else list(pending))
    scanned = pending is None
    paths = repo.changed_paths() if pending is None else pending
    todo = [p for p in paths if parts.committer.wanted(p) and p not in absorbed]
    held = parts.waiting.held(todo)
    batch = None
    if todo:
        batch = parts.committer.commit([p for p in todo if p not in held],
                                       whole_tree=scanned and not held)
    written, still = parts.waiting.retry()
    outcome = parts.syncer.sync(parts.committer)
    outcome.waiting = {**still, **outcome.waiting}
    return RoundResult(batch, outcome, absorbed, written)
