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

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitsync.conflicts import ConflictRecord
from gitsync.errors import GitsyncError, HistoryDivergedError, RemoteError
from gitsync.merge.registry import MergerRegistry, default_registry
from gitsync.remoteurl import RemoteKind, parse_url
from gitsync.repo import DEVICE_TRAILER, Entry, Repo
from gitsync.repo.trees import MODE_LINK
from gitsync.transport import PushRejected, Transport
from gitsync.treemerge import Merger3
from gitsync.worktree import ApplyResult, WorktreeUpdater, check_path, lock_files_for

logger = logging.getLogger(__name__)

REMOTE = "origin"
MAX_ROUNDS = 8

CommitPending = Callable[[list[str]], None]


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
        own_write: Callable[[str, Entry | None], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.remote_url = remote_url
        self.branch = branch
        self.transport = transport or Transport(repo.workdir)
        self.device = device
        self._registry = registry
        self.updater = WorktreeUpdater(repo, own_write)
        self.clock = clock
        self.waiting_file = repo.gitdir / "gitsync-waiting.json"

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
    def sync(self, commit_pending: CommitPending) -> SyncOutcome:
        """One full round; COMMIT_PENDING commits given paths (the user's fresh saves)."""
        outcome = SyncOutcome()
        tried: set[str] = set()  # dirty paths already handed to commit_pending
        keep: dict[str, str] = {}  # dirty paths that could not be committed
        pushed = self._push_first()
        if pushed:
            outcome.action, outcome.head, outcome.pushed = "pushed", pushed, pushed
            return outcome
        for _round in range(MAX_ROUNDS):
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
                target = self._merge(head, tip, outcome)
                action = "merged"
            applied = self.updater.apply(head, target, keep=keep)
            if applied.dirty:
                fresh = [p for p in applied.dirty if p not in tried]
                if fresh:
                    logger.info("saved meanwhile, committing first: %s", ", ".join(fresh))
                    commit_pending(fresh)
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
            self._update_index(head, target, applied)
            self._record_waiting(head, applied, skip=keep)
            outcome.action, outcome.head = action, target
            outcome.written += applied.written
            outcome.removed += applied.removed
            outcome.waiting.update(applied.waiting)
            if action == "merged":
                pushed = self._push_or_retry(target, tip)
                if pushed is _RETRY:
                    continue
                outcome.pushed = pushed
            return outcome
        raise RemoteError(f"{self.remote_url} kept moving during {MAX_ROUNDS} sync rounds",
                          hint="will retry")

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
        except PushRejected:
            logger.info("another device pushed first; fetching and merging again")
            return _RETRY
        self._set_tracking(head)
        return head

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
            if c.new_path is not None:
                check_path(c.new_path)

    def _merge(self, head: str, tip: str, outcome: SyncOutcome) -> str:
        base = self.repo.merge_base(head, tip)
        theirs_device = outcome.theirs_device or "remote"
        tm = Merger3(self.repo, self.registry, ours_device=self.device,
                     theirs_device=theirs_device, now=self.clock()).merge(base, head, tip)
        tree = self.repo.build_tree(head, tm.updates)
        outcome.conflicts = list(tm.conflicts)
        outcome.merged_paths = list(tm.merged_paths)
        outcome.notes = list(tm.notes)
        n_changes = len(self.repo.diff_commits(head, tip, renames=False))
        summary = f"{self.device}: merged {n_changes} change(s) from {theirs_device}"
        if tm.conflicts:
            summary += f" ({len(tm.conflicts)} conflict(s) kept both versions)"
        body = "".join(f"Conflict: {c.path}\n" for c in tm.conflicts)
        body += "".join(f"Note: {n}\n" for n in tm.notes)
        message = f"{summary}\n\n{body}{'' if not body else chr(10)}{DEVICE_TRAILER}: " \
                  f"{self.device}\n"
        return self.repo.create_commit(tree, [head, tip], message,
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

    # ------------------------------------------------------------------ editor locks
    def load_waiting(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.waiting_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_waiting(self, waiting: dict[str, dict[str, str]]) -> None:
        if not waiting:
            self.waiting_file.unlink(missing_ok=True)
            return
        tmp = self.waiting_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(waiting, indent=1))
        tmp.replace(self.waiting_file)

    def _record_waiting(self, old: str | None, applied: ApplyResult,
                        skip: dict[str, str]) -> None:
        """Remember files waiting for an editor (not local files kept because they cannot
        be committed: those are simply left alone)."""
        todo = {p: why for p, why in applied.waiting.items() if p not in skip}
        if not todo:
            return
        waiting = self.load_waiting()
        for p, why in todo.items():
            e = self.repo.entry_at(old, p)
            waiting[p] = {"expect": e.oid if e else "", "why": why}
            logger.warning("%s: incoming change waits: %s", p, why)
        self._save_waiting(waiting)

    def held_paths(self, paths: list[str]) -> set[str]:
        """Paths whose disk content is an older version waiting for an editor to close:
        not user edits, so they must not be committed."""
        waiting = self.load_waiting()
        held = set()
        for p in paths:
            w = waiting.get(p)
            if w is None:
                continue
            disk = self.repo.disk_entry(p)
            if (disk.oid if disk else "") == w["expect"]:
                held.add(p)
        return held

    def absorb_waiting_edits(self, paths: list[str] | None = None) -> list[str]:
        """Commit saves the user made to files whose incoming change was waiting.

        Such a save is an edit of the *old* version (the one the editor had open), not of
        the branch tip, so it is merged three-way (base: the old version, ours: the save,
        theirs: the tip's version) instead of being committed over the incoming change.
        Returns the paths handled; the caller must not commit them again.
        """
        waiting = self.load_waiting()
        todo = [p for p in (paths if paths is not None else list(waiting)) if p in waiting]
        head = self.repo.head_id()
        done: list[str] = []
        for p in todo:
            w = waiting[p]
            disk = self.repo.disk_entry(p)
            if head is None or disk is None or disk.oid == w["expect"]:
                if disk is None and not (self.repo.workdir / p).exists():
                    # Deleted here while an edit from there waited: as for any
                    # modify/delete, the modified file stays.
                    tip_entry = self.repo.entry_at(head, p) if head else None
                    if tip_entry is not None:
                        self.updater.write_one(p, tip_entry)
                        self.repo.set_index_entries({p: tip_entry}, from_disk={p})
                    del waiting[p]
                    done.append(p)
                continue
            saved = (self.repo.workdir / p).read_bytes() if disk.mode != MODE_LINK else None
            tip = self.repo.entry_at(head, p)
            updates: dict[str, Entry | None] = {}
            records: list[ConflictRecord] = []
            if tip is None or saved is None:
                updates[p] = Entry(self.repo.write_blob(saved or b""), disk.mode) \
                    if saved is not None else disk
            else:
                base_entry = Entry(w["expect"], disk.mode) if w["expect"] else None
                tm = Merger3(self.repo, self.registry, ours_device=self.device,
                             theirs_device=self.repo.commit_device(head) or "remote",
                             now=self.clock())
                result = tm.merge_path(p, base_entry,
                                       Entry(self.repo.write_blob(saved), disk.mode), tip,
                                       ours_commit=head)
                updates.update(result.updates)
                records = result.conflicts
            tree = self.repo.build_tree(head, updates)
            msg = (f"{self.device}: edited {Path(p).name} (saved while "
                   f"{self.repo.commit_device(head) or 'another device'}'s change waited)\n\n"
                   + "".join(f"Conflict: {r.path}\n" for r in records)
                   + f"{'' if not records else chr(10)}{DEVICE_TRAILER}: {self.device}\n")
            new = self.repo.create_commit(tree, [head], msg, self.repo.author(self.device))
            self.repo.update_ref(f"refs/heads/{self.branch}", new, head,
                                 "gitsync: commit a waiting file")
            # The disk keeps the user's save until the editor lets go; then the merged
            # version is written (retry_waiting), since the disk still equals what we saw.
            others = {k: v for k, v in updates.items() if k != p}
            for path, entry in others.items():
                self.updater.write_one(path, entry)
            if others:
                self.repo.set_index_entries(others, from_disk={k for k, v in others.items()
                                                               if v is not None})
            waiting[p] = {"expect": disk.oid, "why": w.get("why", "")}
            head = new
            done.append(p)
        self._save_waiting(waiting)
        return done

    def retry_waiting(self) -> tuple[list[str], dict[str, str]]:
        """Write waiting files whose editor lock is gone; returns (written, still waiting)."""
        waiting = self.load_waiting()
        if not waiting:
            return [], {}
        head = self.repo.head_id()
        written, still = [], {}
        entries: dict[str, Entry | None] = {}
        for p, w in list(waiting.items()):
            full = self.repo.workdir / p
            if lock_files_for(full):
                still[p] = w["why"]
                continue
            disk = self.repo.disk_entry(p)
            if (disk.oid if disk else "") != w["expect"]:
                del waiting[p]  # the user saved it: a normal edit now, merged as usual
                continue
            target = self.repo.entry_at(head, p)
            self.updater.write_one(p, target)
            entries[p] = target
            written.append(p)
            del waiting[p]
        if entries:
            self.repo.set_index_entries(
                entries, from_disk={p for p, e in entries.items() if e is not None})
        self._save_waiting(waiting)
        return written, still


_RETRY: str = "\0retry"  # _push_or_retry's "rejected: go round again"
