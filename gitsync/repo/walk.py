"""Reading history for browsing: pages of a file's log, a folder as it was, what was deleted.

Mixed into :class:`gitsync.repo.Repo`. Every walk follows first parents from a start commit
(the line of versions this device saw), like ``gitsync log``. Costs follow what is asked
for: a directory listing looks up the subtree of that directory in each commit and skips
the commits that left it alone, so listing one folder of a huge tree as it was long ago
touches only that folder's trees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pygit2
from pygit2.enums import ObjectType

from gitsync.model import ChangeKind, CommitInfo, FileChange

#: Above this many names still to settle, changed children are found with one tree diff
#: (C code, skips equal subtrees) rather than one lookup per name.
LOOKUP_MAX = 8


@dataclass(frozen=True)
class DirEntry:
    """One direct child of a directory in a commit."""

    name: str
    kind: str  # "file" | "dir" | "link"
    oid: str
    mode: int
    size: int | None  # files and links: bytes; directories: None


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

    def _tree_changes(self, old: pygit2.Tree | None, new: pygit2.Tree | None
                      ) -> list[FileChange]:  # defined by Repo
        raise NotImplementedError

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
        odb = self._repo.odb
        out = []
        for e in tree:
            mode = int(e.filemode)
            kind = _kind(e.type, mode)
            size = None
            if kind != "dir":
                size = int(odb.read_header(e.id)[1])
            out.append(DirEntry(str(e.name), kind, str(e.id), mode, size))
        return out

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

    def last_changes(self, commit: str, directory: str, names: list[str]) -> dict[str, str]:
        """For each child NAME of DIRECTORY, the newest first-parent commit (from COMMIT back)
        that changed it: one walk, skipping commits where the directory's tree is unchanged.
        """
        todo = set(names)
        out: dict[str, str] = {}
        if not todo:
            return out
        walk = self._first_parents(commit)
        cur = next(walk)
        cur_sub = _subtree(cur.tree, directory)
        for parent in walk:
            if cur_sub is None:
                break
            par_sub = _subtree(parent.tree, directory)
            if par_sub is None:
                break  # the directory was made here: everything in it comes from CUR
            if par_sub.id != cur_sub.id:
                for name in self._changed_children(par_sub, cur_sub, todo):
                    out[name] = str(cur.id)
                    todo.discard(name)
                if not todo:
                    return out
            cur, cur_sub = parent, par_sub
        for name in todo:  # present since the oldest commit looked at
            out[name] = str(cur.id)
        return out

    def _changed_children(self, old: pygit2.Tree, new: pygit2.Tree, todo: set[str]
                          ) -> set[str]:
        if len(todo) <= LOOKUP_MAX:
            return {n for n in todo if _child_id(old, n) != _child_id(new, n)}
        diff = old.diff_to_tree(new)
        found = set()
        for d in diff.deltas:
            for p in (d.old_file.path, d.new_file.path):
                if p:
                    found.add(p.split("/", 1)[0])
        return found & todo

    # ------------------------------------------------------------------ log pages
    def log_page(self, start: str, path: str | None, limit: int) -> LogPage:
        """Up to LIMIT commits from START back (newest first); with PATH, only those that
        changed it (or, for a directory, anything under it), following a file's renames."""
        out: list[CommitInfo] = []
        current = path
        for commit in self._first_parents(start):
            if len(out) >= limit:
                return LogPage(out, str(commit.id), current)
            parent_tree = commit.parents[0].tree if commit.parent_ids else None
            if current is None:
                changes = tuple(self._tree_changes(parent_tree, commit.tree))
                out.append(self._commit_info(commit, changes))
                continue
            new = _lookup_id(commit.tree, current)
            old = _lookup_id(parent_tree, current) if parent_tree is not None else None
            if new == old:
                continue
            all_changes = self._tree_changes(parent_tree, commit.tree)
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
        that are still absent at START; KEEP filters the paths worth listing."""
        head_tree = self._commit(start).tree
        seen: set[str] = set()
        out: list[Deletion] = []
        for n, commit in enumerate(self._first_parents(start)):
            if commit.commit_time < since or n >= max_commits or not commit.parent_ids:
                break
            parent = commit.parents[0]
            changes = self._tree_changes(parent.tree, commit.tree)
            gone = [c.path for c in changes if c.kind == ChangeKind.DELETED]
            gone = [p for p in gone if p not in seen and keep(p)
                    and _lookup(head_tree, p) is None]
            if not gone:
                continue
            info = self._commit_info(commit, tuple(changes))
            for p in gone:
                seen.add(p)
                out.append(Deletion(p, info, str(parent.id)))
        return out


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


def _subtree(tree: pygit2.Tree, directory: str) -> pygit2.Tree | None:
    if directory == "":
        return tree
    obj = _lookup(tree, directory)
    if obj is None or obj.type != ObjectType.TREE:
        return None
    return obj.peel(pygit2.Tree)


__all__ = ["Deletion", "DirEntry", "FileChange", "HistoryOps", "LogPage"]
