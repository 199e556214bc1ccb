"""Bringing back an earlier version of a file, as a new commit (history is never rewritten)."""

from __future__ import annotations

import logging
from datetime import datetime

from gitsync.committer import Committer
from gitsync.errors import MissingPathError, RevisionError
from gitsync.messages import commit_message
from gitsync.model import ChangeKind, CommitInfo
from gitsync.repo import Entry, Repo
from gitsync.worktree import WorktreeUpdater

logger = logging.getLogger(__name__)
RECORD_ROOT = ".gitsync/"  # gitsync's own tracked files (conflict records)


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


def restore_tree(repo: Repo, committer: Committer, updater: WorktreeUpdater, directory: str,
                 commit: str, *, exact: bool = False) -> CommitInfo | None:
    """Bring every file under DIRECTORY ("" = the whole folder) back as it was in COMMIT,
    as one new commit; None if nothing differs. Files added since are kept unless EXACT.

    What is on disk under DIRECTORY is committed first, so nothing is lost. The disk is
    changed by :meth:`WorktreeUpdater.apply` with its safety rules: a file open in an
    editor, or saved again meanwhile, is left alone (and not part of the commit).
    gitsync's conflict records (``.gitsync/``) are never brought back or removed.
    """
    prefix = f"{directory}/" if directory else ""
    pending = [p for p in repo.changed_paths()
               if p.startswith(prefix) and committer.wanted(p)]
    if pending:
        committer.commit(pending)
    head = repo.head_id()
    target = {p: v for p, v in repo.files_under(commit, directory).items() if _ours(p)}
    current = ({p: v for p, v in repo.files_under(head, directory).items() if _ours(p)}
               if head else {})
    updates: dict[str, Entry | None] = {}
    for p, (oid, mode) in target.items():
        if current.get(p) != (oid, mode):
            updates[p] = Entry(oid, mode)
    if exact:
        updates.update({p: None for p in current if p not in target})
    # A file whose name is now a folder (or the other way round) with files kept: skip.
    dirs = {p.rsplit("/", 1)[0] for p in (set(current) | set(target)) if "/" in p}
    for p in [p for p, e in updates.items() if e is not None and p in dirs]:
        logger.warning("not restoring %s: a folder of that name holds files now", p)
        del updates[p]
    if not updates:
        return None
    tree = repo.build_tree(head, updates)
    planned = repo.create_commit(tree, [head] if head else [], "gitsync restore (planned)",
                                 repo.author(committer.device))
    result = updater.apply(head, planned)
    if result.dirty:
        result = updater.apply(head, planned, only=set(updates) - set(result.dirty))
    for p, why in result.waiting.items():
        logger.warning("not restoring %s: %s", p, why)
    done = result.written + result.removed
    if not done:
        return None
    when = datetime.fromtimestamp(repo.commit_info(commit, with_changes=False).time)
    what = directory or "the whole folder"
    msg = commit_message(committer.device,
                         f"restored {what} from {when:%Y-%m-%d %H:%M} ({commit[:10]})")
    outcome = repo.commit_paths(done, device=committer.device,
                                size_limit=committer.size_limit, message_for=lambda _c: msg)
    return outcome.commit


def _ours(path: str) -> bool:
    return not path.startswith(RECORD_ROOT)
