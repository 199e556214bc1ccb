"""Files whose incoming change waits for their editor to close.

A document open in an editor that keeps a lock file beside it (Word's ``~$...``,
LibreOffice's ``.~lock.NAME#``) is not replaced under the user's feet: the branch moves,
the file on disk keeps the old version until the lock is gone, and this module remembers
which old version that is (``.git/gitsync-waiting.json``, so it survives a restart).
Meanwhile the old content on disk is not an edit (:meth:`WaitingFiles.held`), and a save
the user makes to it is an edit of the old version, merged three-way into the tip
(:meth:`WaitingFiles.absorb`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from gitsync.conflicts import ConflictRecord
from gitsync.fsutil import atomic_write
from gitsync.merge.registry import MergerRegistry, default_registry
from gitsync.messages import commit_message
from gitsync.repo import Entry, Repo
from gitsync.repo.trees import MODE_LINK
from gitsync.treemerge import TreeMerger
from gitsync.worktree import WorktreeUpdater, lock_files_for

logger = logging.getLogger(__name__)

WAITING_FILE = "gitsync-waiting.json"


class WaitingFiles:
    def __init__(self, repo: Repo, updater: WorktreeUpdater, *, branch: str, device: str,
                 registry: Callable[[], MergerRegistry] = default_registry,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.updater = updater
        self.branch = branch
        self.device = device
        self._registry = registry
        self.clock = clock
        self.file = repo.gitdir / WAITING_FILE

    def load(self) -> dict[str, dict[str, str]]:
        """path -> {"expect": blob id on disk (the old version), "why": the reason}."""
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def reasons(self) -> dict[str, str]:
        return {p: w.get("why", "") for p, w in self.load().items()}

    def _save(self, waiting: Mapping[str, dict[str, str]]) -> None:
        if not waiting:
            self.file.unlink(missing_ok=True)
            return
        atomic_write(self.file, json.dumps(dict(waiting), indent=1))

    def record(self, old: str | None, waiting: Mapping[str, str]) -> None:
        """Remember files left at their version in commit OLD, each waiting for a reason."""
        if not waiting:
            return
        saved = self.load()
        for p, why in waiting.items():
            e = self.repo.entry_at(old, p)
            saved[p] = {"expect": e.oid if e else "", "why": why}
            logger.warning("%s: incoming change waits: %s", p, why)
        self._save(saved)

    def held(self, paths: list[str]) -> set[str]:
        """Paths whose disk content is an older version waiting for an editor to close:
        not user edits, so they must not be committed."""
        if not paths:
            return set()
        waiting = self.load()
        held = set()
        for p in paths:
            w = waiting.get(p)
            if w is None:
                continue
            disk = self.repo.disk_entry(p)
            if (disk.oid if disk else "") == w["expect"]:
                held.add(p)
        return held

    def absorb(self, paths: list[str] | None = None) -> list[str]:
        """Commit saves the user made to files whose incoming change was waiting.

        Such a save is an edit of the *old* version (the one the editor had open), not of
        the branch tip, so it is merged three-way (base: the old version, ours: the save,
        theirs: the tip's version) instead of being committed over the incoming change.
        Returns the paths handled; the caller must not commit them again.
        """
        if paths is not None and not paths:
            return []
        waiting = self.load()
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
            head = self._commit_save(p, w["expect"], disk, head)
            waiting[p] = {"expect": disk.oid, "why": w.get("why", "")}
            done.append(p)
        self._save(waiting)
        return done

    def _commit_save(self, p: str, expect: str, disk: Entry, head: str) -> str:
        saved = (self.repo.workdir / p).read_bytes() if disk.mode != MODE_LINK else None
        tip = self.repo.entry_at(head, p)
        updates: dict[str, Entry | None] = {}
        records: list[ConflictRecord] = []
        if tip is None or saved is None:
            updates[p] = Entry(self.repo.write_blob(saved or b""), disk.mode) \
                if saved is not None else disk
        else:
            base_entry = Entry(expect, disk.mode) if expect else None
            tm = TreeMerger(self.repo, self._registry(), ours_device=self.device,
                         theirs_device=self.repo.commit_device(head) or "remote",
                         now=self.clock())
            result = tm.merge_path(p, base_entry,
                                   Entry(self.repo.write_blob(saved), disk.mode), tip,
                                   ours_commit=head)
            updates.update(result.updates)
            records = result.conflicts
        tree = self.repo.build_tree(head, updates)
        other = self.repo.commit_device(head) or "another device"
        msg = commit_message(self.device,
                             f"edited {Path(p).name} (saved while {other}'s change waited)",
                             [f"Conflict: {r.path}" for r in records])
        new = self.repo.create_commit(tree, [head], msg, self.repo.author(self.device))
        self.repo.update_ref(f"refs/heads/{self.branch}", new, head,
                             "gitsync: commit a waiting file")
        # The disk keeps the user's save until the editor lets go; then the merged
        # version is written (retry), since the disk still equals what we saw.
        others = {k: v for k, v in updates.items() if k != p}
        for path, entry in others.items():
            self.updater.write_one(path, entry)
        if others:
            self.repo.set_index_entries(others, from_disk={k for k, v in others.items()
                                                           if v is not None})
        return new

    def retry(self) -> tuple[list[str], dict[str, str]]:
        """Write waiting files whose editor lock is gone; returns (written, still waiting)."""
        waiting = self.load()
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
        self._save(waiting)
        return written, still
