"""Bringing back an earlier version of a file, as a new commit (history is never rewritten)."""

from __future__ import annotations

from datetime import datetime

from gitsync.committer import Committer
from gitsync.errors import MissingPathError, RevisionError
from gitsync.messages import commit_message
from gitsync.model import ChangeKind, CommitInfo
from gitsync.repo import Repo
from gitsync.worktree import WorktreeUpdater


def restore_file(repo: Repo, committer: Committer, updater: WorktreeUpdater, rel: str,
                 commit: str) -> CommitInfo | None:
    """Write REL as it was in COMMIT and commit it; None if it already is that version.

    What is on disk now is committed first, so the version being replaced stays in history
    even if it was saved a moment ago.
    """
    repo.read_file(commit, rel)  # a clear error when it is not there
    committer.commit([rel])
    updater.write_one(rel, repo.entry_at(commit, rel))
    when = datetime.fromtimestamp(repo.commit_info(commit, with_changes=False).time)
    msg = commit_message(committer.device,
                         f"restored {rel} from {when:%Y-%m-%d %H:%M} ({commit[:10]})")
    outcome = repo.commit_paths([rel], device=committer.device,
                                size_limit=committer.size_limit, message_for=lambda _c: msg)
    return outcome.commit


def default_restore_rev(repo: Repo, rel: str) -> str:
    """The version before the file's latest change, or, if the file is gone from disk or
    from the latest commit, its last version that existed."""
    history = list(repo.log(rel, 2))
    if not history:
        raise MissingPathError(f"{rel} has no history in {repo.workdir}", path=rel,
                        hint="check the name with 'gitsync log'")
    latest = history[0]
    full = repo.workdir / rel
    gone_now = not full.exists() and not full.is_symlink()
    if latest.changes and latest.changes[0].kind == ChangeKind.DELETED:
        return latest.parents[0]  # its last version before the delete
    if gone_now:
        return latest.id
    if len(history) < 2 and latest.changes and latest.changes[0].kind == ChangeKind.ADDED:
        raise RevisionError(f"{rel} has only one version", rev="",
                            hint="nothing older to restore")
    return latest.parents[0]
