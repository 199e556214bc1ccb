"""Reading history for browsing: pages of a file's log, a folder as it was, what was deleted.

Mixed into :class:`gitsync.repo.Repo`. Every walk follows first parents from a start commit
(the line of versions this device saw), like ``gitsync log``. Costs follow what is asked
for: a directory listing looks up the subtree of that directory in each commit and skips
the commits that left it alone, so listing one folder of a huge tree as it was long ago
touches only that folder's trees.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pygit2
from pygit2.enums import ObjectType

from gitsync.gitproc import run_git
from gitsync.model import ChangeKind, CommitInfo, FileChange

#: Above this many names still to settle, changed children are found with one tree diff
#: (C code, skips equal subtrees) rather than one lookup per name.
LOOKUP_MAX = 8


class DirEntry(NamedTuple):
    """One direct child of a directory in a commit (a tuple: listings can be huge)."""

    name: str
    kind: str  # "file" | "dir"
    size: int | None  # files (and links: their target's length): bytes; directories: None


@dataclass(frozen=True)
class Deletion:
    path: str
    commit: CommitInfo  # the commit that deleted it
    last_rev: str  # its first parent, where the file still exists


@dataclass(frozen=True)
class LogPage:
    commits: list[CommitInfo]
    next_commit: str | None  # where the next page starts (None: history is done)
    next_path: str | None  # the path being followed there (a rename moves it back)


class HistoryOps:
    _repo: pygit2.Repository
    workdir: Path

    def _commit_info(self, commit: pygit2.Commit, changes: tuple[FileChange, ...]
                     ) -> CommitInfo:  # defined by Repo
        raise NotImplementedError

    def _commit(self, oid: str) -> pygit2.Commit:
        return self._repo[oid].peel(pygit2.Commit)

    def _first_parents(self, start: str) -> Iterator[pygit2.Commit]:
        walker = self._repo.walk(pygit2.Oid(hex=start), pygit2.enums.SortMode.NONE)
        walker.simplify_first_parent()
        yield from walker

    def kind_of_object(self, oid: str) -> str | None:
        """"commit", "tree", "blob" or "tag" for a full object id; None if absent."""
        try:
            obj = self._repo.get(oid)
        except (ValueError, pygit2.GitError):
            return None
        return None if obj is None else str(obj.type_str)

    # ------------------------------------------------------------------ trees
    def kind_at(self, commit: str, path: str) -> str | None:
        """"file", "dir" or "link" for PATH in COMMIT ("" is the root), or None."""
        if path == "":
            return "dir"
        obj = _lookup(self._commit(commit).tree, path)
        if obj is None:
            return None
        return _kind(obj.type, int(obj.filemode))

    def list_dir(self, commit: str, directory: str) -> list[DirEntry]:
        """The direct children of DIRECTORY ("" = the root) in COMMIT; [] if it is none."""
        tree = _subtree(self._commit(commit).tree, directory)
        if tree is None:
            return []
        header = self._repo.odb.read_header
        # type_str, not type or filemode: those build an enum per entry, a third of the
        # cost of listing a directory of 100,000 files.
        return [DirEntry(e.name or "", "dir", None) if e.type_str == "tree"
                else DirEntry(e.name or "", "file", header(e.id)[1]) for e in tree]

    def files_under(self, commit: str, directory: str) -> dict[str, tuple[str, int]]:
        """Every file (and link) under DIRECTORY in COMMIT, by full path: (blob id, mode)."""
        tree = _subtree(self._commit(commit).tree, directory)
        out: dict[str, tuple[str, int]] = {}
        if tree is None:
            return out
        prefix = f"{directory}/" if directory else ""
        stack: list[tuple[str, pygit2.Tree]] = [(prefix, tree)]
        while stack:
            base, t = stack.pop()
            for e in t:
                if e.type == ObjectType.TREE:
                    stack.append((f"{base}{e.name}/", self._repo[e.id].peel(pygit2.Tree)))
                elif e.type == ObjectType.BLOB:
                    out[f"{base}{e.name}"] = (str(e.id), int(e.filemode))
        return out

    def last_changes(self, commit: str, directory: str, names: list[str],
                     budget_s: float | None = None) -> dict[str, str]:
        """For each child NAME of DIRECTORY, the newest first-parent commit (from COMMIT back)
        that changed it: one walk, skipping commits where the directory's tree is unchanged.

        With BUDGET_S, the walk stops after that many seconds and the names not settled by
        then are left out: a directory of a hundred thousand files changed by every commit
        costs tens of milliseconds per commit just to read its tree.
        """
        deadline = None if budget_s is None else time.monotonic() + budget_s
        todo = set(names)
        out: dict[str, str] = {}
        if not todo:
            return out
        walk = self._first_parents(commit)
        cur = next(walk)
        cur_id = _subtree_id(cur.tree, directory)
        for parent in walk:
            if cur_id is None:
                break
            par_id = _subtree_id(parent.tree, directory)
            if par_id is None:
                break  # the directory was made here: everything in it comes from CUR
            if par_id != cur_id:
                if deadline is not None and time.monotonic() > deadline:
                    return out
                old = self._repo[par_id].peel(pygit2.Tree)
                new = self._repo[cur_id].peel(pygit2.Tree)
                for name in self._changed_children(old, new, todo):
                    out[name] = str(cur.id)
                    todo.discard(name)
                if not todo:
                    return out
            cur, cur_id = parent, par_id
        for name in todo:  # present since the oldest commit looked at
            out[name] = str(cur.id)
        return out

    def _changed_children(self, old: pygit2.Tree, new: pygit2.Tree, todo: set[str]
                          ) -> set[str]:
        if len(todo) <= LOOKUP_MAX or 4 * len(todo) <= len(new):
            return {n for n in todo if _child_id(old, n) != _child_id(new, n)}
        before = {e.name: e.id for e in old}
        return {str(e.name) for e in new if e.name in todo and before.get(e.name) != e.id} \
            | {n for n in todo if n in before and n not in new}

    def _changes(self, old: pygit2.Tree | None, new: pygit2.Tree,
                 limit: int | None = None) -> list[FileChange]:
        """What changed from OLD to NEW, files only, exact renames paired, by path.

        The same answer as a libgit2 tree diff with exact rename detection, but equal
        subtrees are skipped by id: libgit2 walks every entry of both trees, which costs
        tens of milliseconds per commit in a folder of 100,000 files. With LIMIT, the walk
        stops once more than LIMIT changes are found and returns those (more than LIMIT
        entries says "and more"; renames among them may show as an add and a delete):
        a summary of a commit that touched every file costs no more than a small one.
        """
        added: dict[str, str] = {}
        removed: dict[str, str] = {}
        modified: list[str] = []
        # Subtrees are peeled (read) when popped, not when found: with LIMIT, a commit that
        # touched 1,000 directories reads only the few it lists.
        Side = pygit2.Tree | pygit2.Object | None
        stack: list[tuple[str, Side, Side]] = [("", old, new)]
        while stack:
            if limit is not None and len(added) + len(removed) + len(modified) > limit:
                break
            base, ea, eb = stack.pop()
            a = ea.peel(pygit2.Tree) if ea is not None else None
            b = eb.peel(pygit2.Tree) if eb is not None else None
            left = {e.name: e for e in a} if a is not None else {}
            right = {e.name: e for e in b} if b is not None else {}
            for name in left.keys() | right.keys():
                x, y = left.get(name), right.get(name)
                if x is not None and y is not None and x.id == y.id:
                    continue
                path = base + str(name)
                xt = x is not None and x.type_str == "tree"
                yt = y is not None and y.type_str == "tree"
                if xt or yt:
                    stack.append((path + "/", x if xt else None, y if yt else None))
                if x is not None and not xt:
                    if y is not None and not yt:
                        modified.append(path)
                        continue
                    removed[path] = str(x.id)
                if y is not None and not yt:
                    added[path] = str(y.id)
            if a is not None and b is not None:
                # Entries with the same blob may still differ in mode (an executable bit).
                # Modes cost an enum per entry to read, so only in trees that differ (the
                # only ones visited) and only for the entries whose ids are equal.
                for name, x in left.items():
                    y = right.get(name)
                    if (y is not None and x.id == y.id and x.type_str == "blob"
                            and x.filemode != y.filemode):
                        modified.append(base + str(name))
        by_blob: dict[str, list[str]] = {}
        for path in sorted(removed):
            by_blob.setdefault(removed[path], []).append(path)
        out = [FileChange(p, ChangeKind.MODIFIED) for p in modified]
        for path in sorted(added):
            olds = by_blob.get(added[path])
            if olds:
                src = olds.pop(0)
                del removed[src]
                out.append(FileChange(path, ChangeKind.RENAMED, src))
            else:
                out.append(FileChange(path, ChangeKind.ADDED))
        out += [FileChange(p, ChangeKind.DELETED) for p in removed]
        return sorted(out, key=lambda c: c.path)

    def _same_at(self, a: pygit2.Tree | None, b: pygit2.Tree, path: str) -> bool:
        """Whether PATH is the same in trees A and B, reading only the trees on the way
        whose ids differ (a path lookup would read every tree on the path, and big
        directories cost most of a walk)."""
        names = path.split("/")
        ta: pygit2.Tree | None = a
        tb: pygit2.Tree | None = b
        for i, name in enumerate(names):
            ea = _child(ta, name) if ta is not None else None
            eb = _child(tb, name) if tb is not None else None
            if ea is None or eb is None:
                return ea is None and eb is None
            if ea.id == eb.id:  # type: ignore[union-attr]
                return bool(ea.filemode == eb.filemode)  # type: ignore[union-attr]
            if i == len(names) - 1:
                return False
            ta = ea.peel(pygit2.Tree) if ea.type == ObjectType.TREE else None
            tb = eb.peel(pygit2.Tree) if eb.type == ObjectType.TREE else None
        return True

    # ------------------------------------------------------------------ log pages
    def log_page(self, start: str, path: str | None, limit: int,
                 max_changes: int | None = None) -> LogPage:
        """Up to LIMIT commits from START back (newest first); with PATH, only those that
        changed it (or, for a directory, anything under it), following a file's renames.
        Without PATH, MAX_CHANGES caps the changes listed per commit (see _changes)."""
        out: list[CommitInfo] = []
        current = path
        for commit in self._first_parents(start):
            if len(out) >= limit:
                return LogPage(out, str(commit.id), current)
            parent_tree = commit.parents[0].tree if commit.parent_ids else None
            if current is None:
                changes = tuple(self._changes(parent_tree, commit.tree, max_changes))
                if max_changes is not None and len(changes) > max_changes:
                    out.append(replace(self._commit_info(commit, changes[:max_changes]),
                                       changes_truncated=True))
                else:
                    out.append(self._commit_info(commit, changes))
                continue
            if self._same_at(parent_tree, commit.tree, current):
                continue
            all_changes = self._changes(parent_tree, commit.tree)
            mine = [c for c in all_changes if c.path == current]
            if not mine:
                under = current + "/"
                mine = [c for c in all_changes
                        if c.path.startswith(under) or (c.old_path or "").startswith(under)]
                if mine:
                    out.append(self._commit_info(commit, tuple(mine)))
                continue
            out.append(self._commit_info(commit, tuple(mine)))
            if mine[0].kind == ChangeKind.RENAMED and mine[0].old_path:
                current = mine[0].old_path
            elif mine[0].kind == ChangeKind.ADDED:
                return LogPage(out, None, None)
        return LogPage(out, None, None)

    # ------------------------------------------------------------------ deletions
    def deletions(self, start: str, since: float, *, keep: Callable[[str], bool],
                  max_commits: int = 20_000) -> list[Deletion]:
        """Files deleted by first-parent commits made at or after SINCE, newest delete first,
        that are still absent at START; KEEP filters the paths worth listing.

        git's log finds the deleting commits (it skips equal subtrees in C, some twenty
        times faster than any walk here on a big folder); exact renames are not deletes.
        """
        args = ["log", "--first-parent", "-M100%", "--diff-filter=D", "--name-only", "-z",
                "--format=%x01%H", "--no-ext-diff", f"--max-count={max_commits}"]
        if since > 86400:
            # git misreads small "@EPOCH" values: a plain UTC date is read the same anywhere.
            when = datetime.fromtimestamp(int(since), UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
            args.append(f"--since={when}")
        out = run_git([*args, start, "--"], cwd=self.workdir, check=True).stdout
        head_tree = self._commit(start).tree
        seen: set[str] = set()
        found: list[Deletion] = []
        for record in out.split(b"\x01")[1:]:
            head, _, names = record.partition(b"\n")
            commit_id = head.strip(b"\0\n").decode()
            paths = [os.fsdecode(n).strip("\n") for n in names.split(b"\0")]
            gone = [p for p in paths if p and p not in seen and keep(p)
                    and _lookup(head_tree, p) is None]
            if not gone:
                continue
            commit = self._commit(commit_id)
            if not commit.parent_ids:
                continue
            info = self._commit_info(commit, tuple(self._changes(commit.parents[0].tree,
                                                                 commit.tree)))
            for p in gone:
                seen.add(p)
                found.append(Deletion(p, info, str(commit.parent_ids[0])))
        return found


def _child(tree: pygit2.Tree, name: str) -> pygit2.Object | None:
    try:
        return tree[name]
    except KeyError:
        return None


def _kind(obj_type: int, mode: int) -> str:
    if obj_type == ObjectType.TREE:
        return "dir"
    if mode == pygit2.enums.FileMode.LINK:
        return "link"
    return "file"


def _lookup(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]
    except KeyError:
        return None


def _lookup_id(tree: pygit2.Tree, path: str) -> str | None:
    obj = _lookup(tree, path)
    return None if obj is None else str(obj.id)


def _child_id(tree: pygit2.Tree, name: str) -> pygit2.Oid | None:
    try:
        return tree[name].id
    except KeyError:
        return None


def _subtree_id(tree: pygit2.Tree, directory: str) -> pygit2.Oid | None:
    """The id of DIRECTORY's tree, without reading that tree."""
    if directory == "":
        return tree.id
    obj = _lookup(tree, directory)
    if obj is None or obj.type != ObjectType.TREE:
        return None
    return obj.id


def _subtree(tree: pygit2.Tree, directory: str) -> pygit2.Tree | None:
    if directory == "":
        return tree
    obj = _lookup(tree, directory)
    if obj is None or obj.type != ObjectType.TREE:
        return None
    return obj.peel(pygit2.Tree)


__all__ = ["Deletion", "DirEntry", "FileChange", "HistoryOps", "LogPage"]
