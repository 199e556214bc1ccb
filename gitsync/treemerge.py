"""Three-way merge of two commits' trees, path by path, losing nothing.

Works on the changes each side made since the merge base (renames detected), so a merge of
histories that each touched 1,000 of 100,000 files looks at 2,000 paths, not 100,000.
The result is a set of updates to apply on top of ours' tree, plus conflict records.

Rules (ours = this device, theirs = the remote):
- a path only one side changed takes that side's version;
- both changed the content: the merger registry merges it (text line/word level, .docx
  structurally, binary not at all); where it cannot, ours stays at the path and theirs is
  written beside it as a conflict copy;
- one side renamed, the other edited: the edit lands in the renamed file;
- modified vs deleted: the modified file stays;
- both added the same path with different content: conflict (ours stays, theirs copied);
- the executable bit one side changed is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gitsync.conflicts import ConflictRecord, Hunk, clip, copy_name, is_record_path
from gitsync.merge.registry import MergerRegistry
from gitsync.repo import Entry, Repo, TreeChange
from gitsync.repo.trees import MODE_BLOB, MODE_EXEC, MODE_LINK

logger = logging.getLogger(__name__)


@dataclass
class TreeMerge:
    updates: dict[str, Entry | None] = field(default_factory=dict)  # on top of ours' tree
    conflicts: list[ConflictRecord] = field(default_factory=list)
    merged_paths: list[str] = field(default_factory=list)  # content merged cleanly
    notes: list[str] = field(default_factory=list)
    #: New blobs the updates refer to, by id, not stored yet (TreeMerger's defer_blobs):
    #: the caller writes them with the merge commit (Repo.commit_updates).
    blobs: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class _Side:
    """One side's change to one base path (or an added path)."""

    path: str | None  # where it is now; None: deleted
    entry: Entry | None
    base: Entry | None = None  # what the base had at the base path


def _index(changes: list[TreeChange]) -> tuple[dict[str, _Side], dict[str, Entry]]:
    by_base: dict[str, _Side] = {}
    added: dict[str, Entry] = {}
    for c in changes:
        if c.status == "A":
            assert c.new_path and c.new
            added[c.new_path] = c.new
        elif c.status == "D":
            assert c.old_path
            by_base[c.old_path] = _Side(None, None, c.old)
        else:
            assert c.old_path and c.new_path
            by_base[c.old_path] = _Side(c.new_path, c.new, c.old)
    return by_base, added


def _merge_mode(base: int | None, ours: int, theirs: int) -> int:
    if ours == theirs:
        return ours
    if base is not None and ours == base:
        return theirs
    return ours


class TreeMerger:
    def __init__(self, repo: Repo, registry: MergerRegistry, *, ours_device: str,
                 theirs_device: str, now: float, defer_blobs: bool = False) -> None:
        """DEFER_BLOBS: keep new blobs in the result (TreeMerge.blobs) instead of storing
        them one by one."""
        self.repo = repo
        self.defer_blobs = defer_blobs
        self.registry = registry
        self.ours_device = ours_device
        self.theirs_device = theirs_device
        self.now = now
        self._ours: str | None = None

    def merge(self, base: str | None, ours: str, theirs: str) -> TreeMerge:
        out = TreeMerge()
        self._ours = ours
        o_base, o_added = _index(self.repo.diff_commits(base, ours))
        t_base, t_added = _index(self.repo.diff_commits(base, theirs))
        # Paths as they exist in ours' tree after ours' own renames.
        for bpath, t in t_base.items():
            o = o_base.get(bpath)
            base_entry = t.base
            if t.path is None:  # theirs deleted
                if o is None:
                    out.updates[bpath] = None
                elif o.path is None:
                    pass  # both deleted
                else:
                    out.notes.append(f"{o.path}: kept, edited here and deleted on "
                                     f"{self.theirs_device}")
                continue
            assert t.entry is not None
            if o is None:  # only theirs touched it
                if t.path == bpath:
                    out.updates[bpath] = t.entry
                else:  # renamed there: the new name may clash with something of ours
                    out.updates[bpath] = None
                    self._take_theirs(out, t.path, t.entry, ours)
                continue
            if o.path is None:  # ours deleted, theirs kept/renamed/edited
                if base_entry is not None and t.entry.oid == base_entry.oid:
                    continue  # a pure rename of a file we deleted: stay deleted
                out.notes.append(f"{t.path}: kept, edited on {self.theirs_device} and "
                                 "deleted here")
                self._take_theirs(out, t.path, t.entry, ours)
                continue
            # both kept it: ours' name wins when both renamed; the content merges
            assert o.entry is not None
            target = o.path if o.path != bpath else t.path
            if o.path != bpath and t.path != bpath and o.path != t.path:
                out.notes.append(f"{bpath}: renamed to {o.path} here and to {t.path} on "
                                 f"{self.theirs_device}; kept {o.path}")
            if target != o.path:
                out.updates[o.path] = None
            self._merge_content(out, target, base_entry, o.entry, t.entry)
        for path, t_entry in t_added.items():
            o_entry = o_added.get(path)
            if o_entry is None:
                o_entry = self.repo.entry_at(ours, path)
            if o_entry is None:
                self._take_theirs(out, path, t_entry, ours)
            elif o_entry.oid != t_entry.oid or o_entry.mode != t_entry.mode:
                self._merge_content(out, path, None, o_entry, t_entry, kind="add-add")
        return out

    def _blob(self, out: TreeMerge, data: bytes) -> str:
        if not self.defer_blobs:
            return self.repo.write_blob(data)
        oid = self.repo.hash_blob(data)
        out.blobs[oid] = data
        return oid

    def merge_path(self, path: str, base: Entry | None, ours: Entry, theirs: Entry,
                   ours_commit: str | None = None) -> TreeMerge:
        """Merge one path's three versions (for a save made while a change waited)."""
        out = TreeMerge()
        self._ours = ours_commit
        self._merge_content(out, path, base, ours, theirs)
        return out

    def _take_theirs(self, out: TreeMerge, path: str, entry: Entry, ours: str) -> None:
        current = self.repo.entry_at(ours, path)
        if current is not None and (current.oid, current.mode) != (entry.oid, entry.mode):
            # ours has something else at that path (e.g. our own rename landed there)
            self._merge_content(out, path, None, current, entry, kind="add-add")
            return
        if self.repo.is_dir_at(ours, path):
            self._conflict_copy_only(out, path, path, entry, "a folder here is a file there")
            return
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if self.repo.entry_at(ours, prefix) is not None:
                self._conflict_copy_only(out, path, prefix, entry,
                                         f"{prefix} is a file here and a folder there")
                return
        out.updates[path] = entry

    def _taken(self, out: TreeMerge, path: str) -> bool:
        if out.updates.get(path) is not None:
            return True
        if self._ours is not None and self.repo.entry_at(self._ours, path) is not None:
            return True
        return (self.repo.workdir / path).exists()

    def _conflict_copy_only(self, out: TreeMerge, path: str, clash: str, entry: Entry,
                            why: str) -> None:
        """Theirs' file cannot go where it was (a file/folder clash): rename the clashing
        component so both survive."""
        cpath = copy_name(clash, self.theirs_device, self.now,
                          lambda c: self._taken(out, c + path[len(clash):])) + path[len(clash):]
        out.updates[cpath] = entry
        rec = ConflictRecord.create(
            path=path, copy_path=cpath, kind="path",
            base=None, ours=None, theirs=entry.oid, ours_device=self.ours_device,
            theirs_device=self.theirs_device, time=self.now,
            hunks=(Hunk(path, "", "", why),))
        out.updates[rec.record_path] = Entry(self._blob(out, rec.dumps()), MODE_BLOB)
        out.conflicts.append(rec)

    def _merge_content(self, out: TreeMerge, path: str, base: Entry | None, ours: Entry,
                       theirs: Entry, kind: str = "content") -> None:
        if is_record_path(path):
            # Conflict records are only ever added whole or deleted; keep ours.
            out.updates[path] = ours
            return
        mode = _merge_mode(base.mode if base else None, ours.mode, theirs.mode)
        if ours.oid == theirs.oid:
            out.updates[path] = Entry(ours.oid, mode)
            return
        if base is not None and ours.oid == base.oid:
            out.updates[path] = Entry(theirs.oid, mode if theirs.mode != MODE_LINK
                                      else MODE_LINK)
            return
        if base is not None and theirs.oid == base.oid:
            out.updates[path] = Entry(ours.oid, mode if ours.mode != MODE_LINK else MODE_LINK)
            return
        if MODE_LINK in (ours.mode, theirs.mode):
            self._record(out, path, base, ours, theirs, "symlink", [], keep=ours,
                         in_document=False)
            return
        result = self.registry.merge(
            path,
            self.repo.blob(base.oid) if base else None,
            self.repo.blob(ours.oid),
            self.repo.blob(theirs.oid),
            ours_label=self.ours_device,
            theirs_label=self.theirs_device,
            now=datetime.fromtimestamp(self.now, UTC),
        )
        merged = Entry(self._blob(out, result.data),
                       mode if mode in (MODE_BLOB, MODE_EXEC) else MODE_BLOB)
        if result.clean:
            out.updates[path] = merged
            out.merged_paths.append(path)
            return
        k = result.conflicts[0].kind if kind == "content" else kind
        hunks = [Hunk(c.where, clip(c.base), clip(c.ours), clip(c.theirs))
                 for c in result.conflicts]
        # A .docx shows its conflicts as tracked changes; ones it cannot show that way (a
        # style or part both sides changed) also get a conflict copy.
        shown = result.conflicts_in_document and not any(
            c.kind in ("part", "formatting", "unmergeable", "binary") for c in result.conflicts)
        self._record(out, path, base, ours, theirs, k, hunks, keep=merged, in_document=shown)

    def _record(self, out: TreeMerge, path: str, base: Entry | None, ours: Entry,
                theirs: Entry, kind: str, hunks: list[Hunk], *, keep: Entry,
                in_document: bool) -> None:
        out.updates[path] = keep
        copy_path = None
        if not in_document:
            copy_path = copy_name(path, self.theirs_device, self.now,
                                  lambda c: self._taken(out, c))
            out.updates[copy_path] = theirs
        rec = ConflictRecord.create(
            path=path, copy_path=copy_path,
            kind=kind, base=base.oid if base else None, ours=ours.oid, theirs=theirs.oid,
            ours_device=self.ours_device, theirs_device=self.theirs_device, time=self.now,
            hunks=tuple(hunks), in_document=in_document)
        out.updates[rec.record_path] = Entry(self._blob(out, rec.dumps()), MODE_BLOB)
        out.conflicts.append(rec)
        logger.warning("conflict in %s: kept this device's version%s", path,
                       f", the other is in {copy_path}" if copy_path else
                       " with the other side's changes shown as tracked changes")
