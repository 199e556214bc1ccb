"""The sync cycle: fetch, fast-forward or merge three-way, update the disk safely, push.

One round (``Syncer.sync``), for one folder, called by its worker (or once by
``gitsync sync``) after local changes are committed:

1. Fetch the remote branch into ``refs/remotes/origin/BRANCH``.
2. Remote ahead: fast-forward. Local ahead: push. Both moved: merge three-way into a merge
   commit with both parents, then push. Never rebase, never force, never rewrite history.
   A push rejected because another device pushed meanwhile goes round again.
3. The disk follows only where it is safe (see :mod:`gitsync.worktree`): if the user saved
   a file the round wants to change, that save is committed first and the round restarts.

Unrelated or rewritten remote history (a force-push, a replaced remote) stops the round
with :class:`HistoryDivergedError` and changes nothing locally.

Network transfer goes through :mod:`gitsync.transport` (the system ``git``, so SSH behaves
exactly as it does for git itself).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitsync.conflicts import ConflictRecord
from gitsync.errors import GitsyncError, HistoryDivergedError, RemoteError
from gitsync.merge.registry import MergerRegistry, default_registry
from gitsync.messages import commit_message
from gitsync.model import CommitInfo
from gitsync.remoteurl import RemoteKind, parse_url
from gitsync.repo import Entry, Repo
from gitsync.transport import PushRejected, Transport
from gitsync.treemerge import TreeMerger
from gitsync.waiting import WaitingFiles
from gitsync.worktree import ApplyResult, WorktreeUpdater, check_entry

if TYPE_CHECKING:
    from gitsync.committer import Committer

logger = logging.getLogger(__name__)

REMOTE = "origin"
MAX_ROUNDS = 8



@dataclass
class SyncOutcome:
    action: str = "none"  # none | pushed | fast-forward | merged | initial
    head: str | None = None
    pushed: str | None = None
    conflicts: list[ConflictRecord] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    merged_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    theirs_device: str | None = None
    committed: list[CommitInfo] = field(default_factory=list)  # saves made during the round

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "head": self.head, "pushed": self.pushed,
                "conflicts": [c.to_json() for c in self.conflicts],
                "written": self.written, "removed": self.removed, "waiting": self.waiting,
                "merged_paths": self.merged_paths, "notes": self.notes,
                "theirs_device": self.theirs_device,
                "committed": [c.to_json() for c in self.committed]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SyncOutcome:
        return cls(action=d["action"], head=d["head"], pushed=d["pushed"],
                   conflicts=[ConflictRecord.from_json(c) for c in d["conflicts"]],
                   written=list(d["written"]), removed=list(d["removed"]),
                   waiting=dict(d["waiting"]), merged_paths=list(d["merged_paths"]),
                   notes=list(d["notes"]), theirs_device=d["theirs_device"],
                   committed=[CommitInfo.from_json(c) for c in d["committed"]])


class Syncer:
    def __init__(
        self,
        repo: Repo,
        remote_url: str,
        branch: str,
        transport: Transport | None = None,
        *,
        device: str = "device",
        registry: MergerRegistry | None = None,
        updater: WorktreeUpdater | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.remote_url = remote_url
        self.branch = branch
        self.transport = transport or Transport(repo.workdir)
        self.device = device
        self._registry = registry
        self.updater = updater or WorktreeUpdater(repo)
        self.clock = clock
        self._last_rejection = ""
        # Called between two tries of a round after a refused push (the daemon commits the
        # saves that settled meanwhile, so a long contended round does not hold them back).
        self.meanwhile: Callable[[], None] | None = None
        self._refused = False
        self.waiting = WaitingFiles(repo, self.updater, branch=branch, device=device,
                                    registry=lambda: self.registry, clock=clock)

    @property
    def registry(self) -> MergerRegistry:
        if self._registry is None:
            self._registry = default_registry()
        return self._registry

    @property
    def tracking_ref(self) -> str:
        return f"refs/remotes/{REMOTE}/{self.branch}"

    # ------------------------------------------------------------------ polling
    def remote_moved(self) -> bool:
        """Cheap check (no objects fetched): does the remote tip differ from what we know?"""
        tip = self.transport.ls_remote(REMOTE, self.branch)
        return tip != self.repo.ref_target(self.tracking_ref)

    def _set_tracking(self, oid: str) -> None:
        # git updates the tracking ref itself when pushing to a named remote; set it if not.
        now_id = self.repo.ref_target(self.tracking_ref)
        if now_id != oid:
            self.repo.update_ref(self.tracking_ref, oid, now_id)

    # ------------------------------------------------------------------ the round
    def sync(self, committer: Committer) -> SyncOutcome:
        """Fetch, merge, update the disk and push. A save the user made to a file the round
        must change is committed first with COMMITTER, and the round goes again."""
        outcome = SyncOutcome()
        self._refused = False
        tried: set[str] = set()  # dirty paths already handed to commit_pending
        keep: dict[str, str] = {}  # dirty paths that could not be committed
        pushed = self._push_first()
        if pushed:
            outcome.action, outcome.head, outcome.pushed = "pushed", pushed, pushed
            return outcome
        for _round in range(MAX_ROUNDS):
            if self._refused and self.meanwhile is not None:
                self._refused = False
                self.meanwhile()
            head = self.repo.head_id()
            before = self.repo.ref_target(self.tracking_ref)
            tip = self.transport.fetch(REMOTE, self.branch, into=self.tracking_ref)
            if tip is None:  # the remote branch does not exist yet
                outcome.pushed = self._push_or_retry(head, None)
                if outcome.pushed is _RETRY:
                    continue
                outcome.action = "pushed" if outcome.pushed else "none"
                outcome.head = head
                return outcome
            self._check_history(before, tip, head)
            self._check_incoming_paths(head, tip)
            if head == tip or (head is not None and self.repo.is_ancestor(tip, head)):
                pushed = self._push_or_retry(head, tip)
                if pushed is _RETRY:
                    continue
                outcome.pushed = pushed
                outcome.action = "pushed" if pushed else outcome.action
                outcome.head = head
                return outcome
            outcome.theirs_device = self.repo.commit_device(tip) or "remote"
            if head is None or self.repo.is_ancestor(head, tip):
                target, action = tip, ("initial" if head is None else "fast-forward")
            else:
                logger.debug("merging %s with %s", head[:10], tip[:10])
                target = self._merge(head, tip, outcome)
                action = "merged"
            push = _BackgroundPush(self, target, tip) if action == "merged" else None
            logger.debug("updating the disk to %s (%s)", target[:10], action)
            try:
                applied = self.updater.apply(head, target, keep=keep,
                                             before_writes=push.start if push else None)
            except BaseException:
                if push is not None:
                    push.settle()
                raise
            if applied.dirty:
                if push is not None:
                    push.settle()  # the merge may be on the remote: the next merge builds on it
                fresh = [p for p in applied.dirty if p not in tried]
                if fresh:
                    logger.info("saved meanwhile, committing first: %s", ", ".join(fresh))
                    batch = committer.commit(fresh)
                    if batch.commit is not None:
                        outcome.committed.append(batch.commit)
                    tried.update(fresh)
                else:
                    # A local file that cannot be committed (too large, unreadable) is in
                    # the way: it stays; the incoming version is in history.
                    for p in applied.dirty:
                        keep[p] = "kept the local file, which cannot be committed"
                        logger.warning("%s: %s; the incoming version is in history", p,
                                       keep[p])
                outcome.conflicts.clear()
                continue
            self.repo.update_ref(f"refs/heads/{self.branch}", target, head,
                                 f"gitsync: {action} with {self.remote_url}")
            logger.debug("writing the index")
            self._update_index(head, target, applied)
            self.waiting.record(head, {p: why for p, why in applied.waiting.items()
                                       if p not in keep})
            outcome.action, outcome.head = action, target
            outcome.written += applied.written
            outcome.removed += applied.removed
            outcome.waiting.update(applied.waiting)
            if push is not None:
                pushed = push.result()
                if pushed is _RETRY:
                    continue
                outcome.pushed = pushed
            return outcome
        raise RemoteError(f"{self.remote_url} refused {MAX_ROUNDS} pushes in a row (last: "
                          f"{self._last_rejection}): another device keeps pushing, or a "
                          "stale lock sits in the remote", hint="will retry")

    def _push_first(self) -> str | None:
        """Local commits on top of the remote tip we know: push them straight away.

        Saves a fetch (one more SSH handshake) on the path every save takes. If the remote
        moved meanwhile the push is refused without changing anything, and the round
        fetches and merges as usual.
        """
        head = self.repo.head_id()
        known = self.repo.ref_target(self.tracking_ref)
        if head is None or known is None or head == known:
            return None
        if not self.repo.is_ancestor(known, head):
            return None
        # Asking a hub on this disk is cheaper than a push it would refuse.
        try:
            local = parse_url(self.remote_url).kind in (RemoteKind.LOCAL, RemoteKind.FILE)
        except GitsyncError:
            local = False
        if local and self.transport.ls_remote(REMOTE, self.branch) != known:
            return None
        pushed = self._push_or_retry(head, known)
        return None if pushed is _RETRY else pushed

    def _push_or_retry(self, head: str | None, tip: str | None) -> str | None:
        if head is None or head == tip:
            return None
        try:
            self.transport.push(REMOTE, head, f"refs/heads/{self.branch}", expect=tip)
        except PushRejected as e:
            return self._rejected(e)
        self._set_tracking(head)
        return head

    def _rejected(self, e: PushRejected) -> str:
        logger.info("another device pushed first; fetching and merging again")
        self._refused = True
        self._last_rejection = e.reason or e.message
        return _RETRY

    def _check_history(self, before: str | None, tip: str, head: str | None) -> None:
        if before is not None and before != tip and not self.repo.is_ancestor(before, tip):
            self.repo.update_ref(self.tracking_ref, before, tip)  # keep what we knew
            raise HistoryDivergedError(
                f"the history on {self.remote_url} was rewritten (a force-push or a replaced "
                "remote); syncing this folder stopped and nothing here was changed",
                hint="to keep this device's history push it to a new remote "
                     "('git push NEWURL'); to take the remote's, clone it afresh with "
                     "'gitsync clone'",
            )
        if head is not None and self.repo.merge_base(head, tip) is None:
            if before is not None:
                self.repo.update_ref(self.tracking_ref, before, tip)
            raise HistoryDivergedError(
                f"{self.remote_url} holds a history unrelated to this folder's; syncing "
                "stopped and nothing here was changed",
                hint="to join a folder synced from another device use "
                     "'gitsync clone URL DIR'; to start fresh, give 'gitsync init' an "
                     "empty remote",
            )

    def _check_incoming_paths(self, head: str | None, tip: str) -> None:
        """Refuse the remote's commit whole if any path it brings is unsafe to write."""
        since = self.repo.merge_base(head, tip) if head is not None else None
        for c in self.repo.diff_commits(since, tip, renames=False):
            if c.new_path is not None and c.new is not None:
                check_entry(c.new_path, c.new)

    def _merge(self, head: str, tip: str, outcome: SyncOutcome) -> str:
        base = self.repo.merge_base(head, tip)
        theirs_device = outcome.theirs_device or "remote"
        tm = TreeMerger(self.repo, self.registry, ours_device=self.device,
                        theirs_device=theirs_device, now=self.clock(),
                        defer_blobs=True).merge(base, head, tip)
        outcome.conflicts = list(tm.conflicts)
        outcome.merged_paths = list(tm.merged_paths)
        outcome.notes = list(tm.notes)
        n_changes = len(self.repo.diff_commits(head, tip, renames=False))
        summary = f"merged {n_changes} change(s) from {theirs_device}"
        if tm.conflicts:
            summary += f" ({len(tm.conflicts)} conflict(s) kept both versions)"
        message = commit_message(self.device, summary,
                                 [f"Conflict: {c.path}" for c in tm.conflicts]
                                 + [f"Note: {n}" for n in tm.notes])
        return self.repo.commit_updates(head, tm.updates, tm.blobs, [head, tip], message,
                                        self.repo.author(self.device))

    def _update_index(self, old: str | None, new: str, applied: ApplyResult) -> None:
        entries: dict[str, Entry | None] = {}
        for p in applied.written:
            entries[p] = self.repo.entry_at(new, p)
        for p in applied.removed:
            entries[p] = None
        # Paths that did not need a disk write (e.g. a merge result equal to ours) still
        # must match the new commit in the index, except those waiting for an editor.
        for c in self.repo.diff_commits(old, new, renames=False):
            changed = c.new_path or c.old_path
            assert changed is not None
            if changed not in entries and changed not in applied.waiting:
                entries[changed] = c.new
        self.repo.set_index_entries(entries, from_disk=set(applied.written))


_RETRY: str = "\0retry"  # _push_or_retry's "rejected: go round again"


class _BackgroundPush:
    """The push of a merge commit, run beside the disk update.

    The merge commit and its objects are on disk (Repo.commit_updates) before the push
    starts, and the push carries the commit by id, so the remote never depends on the local
    branch or on the working tree. Pushing while the files are written saves the push's time
    (seconds for a big merge) from the round. ``start`` runs only once the disk update has
    checked that no file was saved meanwhile: a round that must commit a save first does not
    push a merge it is about to replace. Only ``git push`` runs on the other thread; the
    tracking ref is set on the caller's.
    """

    def __init__(self, syncer: Syncer, target: str, tip: str) -> None:
        self.syncer, self.target, self.tip = syncer, target, tip
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self.target == self.tip:
            return
        self._thread = threading.Thread(target=self._run, name="gitsync-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.syncer.transport.push(REMOTE, self.target, f"refs/heads/{self.syncer.branch}",
                                       expect=self.tip)
        except BaseException as e:  # handed to the caller's thread by result()
            self._error = e

    def result(self) -> str | None:
        """Like Syncer._push_or_retry: the pushed id, None, or _RETRY; raises its errors."""
        if self._thread is None:
            return self.syncer._push_or_retry(self.target, self.tip)
        self._thread.join()
        if isinstance(self._error, PushRejected):
            return self.syncer._rejected(self._error)
        if self._error is not None:
            raise self._error
        self.syncer._set_tracking(self.target)
        return self.target

    def settle(self) -> None:
        """Wait for a started push and keep what it did; its errors wait for the next push
        (the round goes on, or stops for another reason)."""
        if self._thread is None:
            return
        try:
            self.result()
        except GitsyncError as e:
            logger.info("push of the merge beside the disk update failed: %s", e)
