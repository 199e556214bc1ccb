"""Turning a batch of changed paths into one commit.

The committer filters out what gitsync never commits (the built-in temp-file list, the
user's extra patterns, ``.gitignore`` as libgit2 reads it), expands directory events,
and asks the repository to stage exactly those paths. What could not be taken (a file
still being written, unreadable, over the size limit) is reported back so the worker can
retry it later or list it in ``status``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gitsync.ignore import IgnoreRules
from gitsync.messages import batch_message
from gitsync.model import CommitInfo
from gitsync.repo import Repo, StagedPath

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class BatchResult:
    commit: CommitInfo | None
    retry: tuple[StagedPath, ...]  # unstable or unreadable: try again later
    skipped: tuple[StagedPath, ...]  # too large: listed in status, not retried


class Committer:
    def __init__(self, repo: Repo, device: str, *, size_limit: int,
                 ignore: IgnoreRules) -> None:
        self.repo = repo
        self.device = device
        self.size_limit = size_limit
        self.ignore = ignore

    def wanted(self, relpath: str) -> bool:
        """Whether a path is one gitsync commits (cheap: called for every event)."""
        if self.ignore.matches(relpath):
            return False
        if not self.repo.is_ignored(relpath):
            return True
        # git keeps tracking a committed file that a .gitignore rule matches; so do we.
        head = self.repo.head_id()
        return head is not None and self.repo.entry_at(head, relpath) is not None

    def expand(self, paths: Iterable[str]) -> list[str]:
        """Replace directory paths by the files under them, on disk and in the index."""
        out: set[str] = set()
        tracked_dirs: list[str] = []
        root = self.repo.workdir
        for p in paths:
            full = root / p
            if full.is_dir() and not full.is_symlink():
                for dirpath, dirs, files in os.walk(full):
                    dirs[:] = [d for d in dirs if d != ".git"]
                    rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
                    for f in files:
                        out.add(f"{rel_dir}/{f}" if rel_dir != "." else f)
                tracked_dirs.append(p)
            elif not full.exists() and not full.is_symlink():
                tracked_dirs.append(p)
                out.add(p)
            else:
                out.add(p)
        if tracked_dirs:
            out.update(self.repo.tracked_under(tracked_dirs))
        return sorted(p for p in out if self.wanted(p))

    def commit_all(self, progress: Callable[[int, int], None] | None = None) -> BatchResult:
        """Commit every change in the folder (start-up scan, first snapshot, ``sync``)."""
        return self.commit(self.repo.changed_paths(), whole_tree=True, progress=progress)

    def commit(self, paths: Iterable[str], *, whole_tree: bool = False,
               progress: Callable[[int, int], None] | None = None,
               defer_index: bool = False) -> BatchResult:
        # A scan lists files (git status), not folders, and git has already left out what
        # .gitignore and .git/info/exclude ignore: only watcher events need expanding and
        # asking libgit2 about ignore rules.
        todo = (sorted(p for p in paths if not self.ignore.matches(p)) if whole_tree
                else self.expand(paths))
        if not todo:
            return BatchResult(None, (), ())
        logger.debug("committing %d path(s)", len(todo))
        outcome = self.repo.commit_paths(
            todo, device=self.device, size_limit=self.size_limit,
            message_for=lambda changes: batch_message(self.device, changes),
            progress=progress, whole_tree=whole_tree, defer_index=defer_index,
        )
        retry = tuple(h for h in outcome.held_back
                      if h.status in ("unstable", "unreadable", "disk-full"))
        skipped = tuple(h for h in outcome.held_back if h.status == "too-large")
        for h in retry:
            if h.status == "disk-full":
                logger.warning("%s: not committed yet, the disk is full; will retry", h.path)
            else:
                level = logging.WARNING if h.status == "unreadable" else logging.DEBUG
                logger.log(level, "%s: not committed yet, %s (%s); will retry", h.path,
                           h.status, h.detail)
        for h in skipped:
            logger.warning("%s: not committed, file too large (%s)", h.path, h.detail)
        if outcome.commit:
            logger.info("committed %s %s", outcome.commit.id[:10], outcome.commit.summary)
        return BatchResult(outcome.commit, retry, skipped)
