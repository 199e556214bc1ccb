"""Commit graph and tree operations the sync engine needs, as plain data.

Mixed into :class:`gitsync.repo.Repo`; everything returns ids as hex strings, contents as
bytes and changes as :class:`TreeChange`, so the engine above never touches pygit2.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import DiffFind, FileMode

from gitsync.errors import RepoError
from gitsync.messages import device_of
from gitsync.model import Author

MODE_BLOB = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000


@dataclass(frozen=True)
class Entry:
    oid: str
    mode: int


@dataclass(frozen=True)
class TreeChange:
    """One path changed between two commits. ``old``/``new`` are None for adds/deletes."""

    status: str  # "A" | "D" | "M" | "R"
    old_path: str | None
    new_path: str | None
    old: Entry | None
    new: Entry | None


class TreeOps:
    _repo: pygit2.Repository
    workdir: Path

    def flush_index(self) -> None:  # defined by Repo
        raise NotImplementedError

    # ------------------------------------------------------------------ graph
    def merge_base(self, a: str, b: str) -> str | None:
        found = self._repo.merge_base(pygit2.Oid(hex=a), pygit2.Oid(hex=b))
        return str(found) if found else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ANCESTOR is DESCENDANT or one of its ancestors."""
        if ancestor == descendant:
            return True
        return bool(self._repo.descendant_of(pygit2.Oid(hex=descendant), pygit2.Oid(hex=ancestor)))

    def ref_target(self, name: str) -> str | None:
        ref = self._repo.references.get(name)
        return str(ref.resolve().target) if ref is not None else None

    def commit_device(self, oid: str) -> str | None:
        return device_of(self._repo[oid].peel(pygit2.Commit).message)

    def diff_commits(self, a: str | None, b: str, *, renames: bool = True) -> list[TreeChange]:
        """Changes from commit A (None: the empty tree) to commit B, renames detected."""
        return self.diff_trees(a, b, renames=renames)

    def diff_trees(self, old: str | None, new: str | None, *,
                   renames: bool = True) -> list[TreeChange]:
        """Changes from OLD to NEW, each the id of a tree or a commit (None: the empty tree)."""
        return self._diff_trees(self._tree(old), self._tree(new),
                                DiffFind.FIND_RENAMES if renames else None)

    def _tree(self, oid: str | None) -> pygit2.Tree | None:
        return self._repo[oid].peel(pygit2.Tree) if oid is not None else None

    def _diff_trees(self, old: pygit2.Tree | None, new: pygit2.Tree | None,
                    find: DiffFind | None) -> list[TreeChange]:
        if old is None and new is None:
            return []
        if old is None:
            assert new is not None
            diff = new.diff_to_tree(swap=True)
        elif new is None:
            diff = old.diff_to_tree()
        else:
            diff = old.diff_to_tree(new)
        if find is not None:
            diff.find_similar(flags=find)
        out: list[TreeChange] = []
        for d in diff.deltas:
            s = d.status_char()
            old_e = Entry(str(d.old_file.id), int(d.old_file.mode)) if s != "A" else None
            new_e = Entry(str(d.new_file.id), int(d.new_file.mode)) if s != "D" else None
            if s == "A":
                out.append(TreeChange("A", None, d.new_file.path, None, new_e))
            elif s == "D":
                out.append(TreeChange("D", d.old_file.path, None, old_e, None))
            elif s == "R":
                out.append(TreeChange("R", d.old_file.path, d.new_file.path, old_e, new_e))
            else:  # M, T (type change)
                out.append(TreeChange("M", d.old_file.path, d.new_file.path, old_e, new_e))
        return out

    def entry_at(self, commit: str | None, path: str) -> Entry | None:
        if commit is None:
            return None
        tree = self._repo[commit].peel(pygit2.Commit).tree
        try:
            e = tree[path]
        except KeyError:
            return None
        if e.type_str != "blob":
            return None
        return Entry(str(e.id), int(e.filemode))

    def is_dir_at(self, commit: str, path: str) -> bool:
        tree = self._repo[commit].peel(pygit2.Commit).tree
        try:
            return tree[path].type_str == "tree"
        except KeyError:
            return False

    def entries_under(self, commit: str, directory: str) -> dict[str, Entry]:
        """The blobs directly inside DIRECTORY at COMMIT, by name."""
        tree = self._repo[commit].peel(pygit2.Commit).tree
        try:
            sub = tree[directory]
        except KeyError:
            return {}
        if sub.type_str != "tree":
            return {}
        return {str(e.name): Entry(str(e.id), int(e.filemode))
                for e in self._repo[sub.id].peel(pygit2.Tree) if e.type_str == "blob"}

    def entry_for_bytes(self, data: bytes, path: str) -> Entry:
        """Store DATA as a blob, with the mode PATH has in the working tree."""
        full = self.workdir / path
        mode = MODE_BLOB
        try:
            if full.lstat().st_mode & 0o100:
                mode = MODE_EXEC
        except FileNotFoundError:
            pass
        return Entry(self.write_blob(data), mode)

    def blob(self, oid: str) -> bytes:
        return bytes(self._repo[oid].read_raw())

    def write_blob(self, data: bytes) -> str:
        return str(self._repo.create_blob(data))

    def build_tree(self, base_commit: str | None, updates: dict[str, Entry | None]) -> str:
        """The tree of BASE_COMMIT with UPDATES applied (None removes a path).

        Only the trees on the updated paths are rewritten (tree builders, not an index of
        the whole folder), so the cost follows the number of changes, not the folder size.
        """
        base = self._repo[base_commit].peel(pygit2.Commit).tree if base_commit else None
        oid = self._tree_with(base, updates)
        return str(oid) if oid is not None else str(self._repo.TreeBuilder().write())

    def _tree_with(self, tree: pygit2.Tree | None, updates: dict[str, Entry | None]
                   ) -> pygit2.Oid | None:
        direct: dict[str, Entry | None] = {}
        nested: dict[str, dict[str, Entry | None]] = {}
        for path, entry in updates.items():
            first, _, rest = path.partition("/")
            if rest:
                nested.setdefault(first, {})[rest] = entry
            else:
                direct[first] = entry
        tb = self._repo.TreeBuilder(tree) if tree is not None else self._repo.TreeBuilder()
        for name, entry in direct.items():
            if entry is None:
                if tb.get(name) is not None and name not in nested:
                    tb.remove(name)
            else:
                tb.insert(name, pygit2.Oid(hex=entry.oid), FileMode(entry.mode))
        for name, sub in nested.items():
            existing = tb.get(name)
            subtree = (self._repo[existing.id].peel(pygit2.Tree)
                       if existing is not None and existing.type_str == "tree" else None)
            if existing is not None and subtree is None:
                tb.remove(name)  # a file that became a folder
            new_id = self._tree_with(subtree, sub)
            if new_id is None:  # emptied: git keeps no empty folders
                if tb.get(name) is not None:
                    tb.remove(name)
            else:
                tb.insert(name, new_id, FileMode.TREE)
        return tb.write() if len(tb) else None

    def create_commit(self, tree: str, parents: list[str], message: str,
                      author: Author) -> str:
        """Write a commit object by AUTHOR (also its committer) without moving any ref."""
        sig = _signature(author)
        return str(self._repo.create_commit(
            None, sig, sig, message, pygit2.Oid(hex=tree),
            [pygit2.Oid(hex=p) for p in parents]))

    # ------------------------------------------------------------------ working tree
    def disk_entry(self, path: str) -> Entry | None:
        """The blob id and mode the working file would have if committed now."""
        full = self.workdir / path
        try:
            st = full.lstat()
        except (FileNotFoundError, NotADirectoryError):  # a parent is a file: PATH is absent
            return None
        if stat.S_ISLNK(st.st_mode):
            return Entry(str(pygit2.hash(os.fsencode(os.readlink(full)))), MODE_LINK)
        if not stat.S_ISREG(st.st_mode):
            return None
        mode = MODE_EXEC if st.st_mode & 0o100 else MODE_BLOB
        return Entry(str(pygit2.hashfile(str(full))), mode)

    def set_index_entries(self, entries: dict[str, Entry | None], *,
                          from_disk: set[str] | None = None) -> None:
        """Point index entries at given blobs (None removes); FROM_DISK paths are re-added
        from the working tree so their stat data is fresh."""
        self.flush_index()  # entries committed earlier first, so these win
        index = self._repo.index
        index.read(False)
        for path, entry in entries.items():
            if entry is None:
                if path in index:
                    index.remove(path)
            elif from_disk and path in from_disk:
                index.add(path)
            else:
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=entry.oid),
                                            FileMode(entry.mode)))
        index.write()
        fd = os.open(Path(self._repo.path) / "index", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def update_ref(self, name: str, new: str, expected_old: str | None,
                   message: str = "gitsync") -> None:
        """Compare-and-swap ref NAME from EXPECTED_OLD (None: must not exist) to NEW."""
        ref = self._repo.references.get(name)
        if ref is None:
            if expected_old is not None:
                raise RepoError(f"{name} vanished while updating it", hint="will retry")
            self._repo.create_reference_direct(name, pygit2.Oid(hex=new), False,
                                               message=message)
            return
        if str(ref.target) != expected_old:
            raise RepoError(f"{name} moved while updating it", hint="will retry")
        try:
            ref.set_target(pygit2.Oid(hex=new), message)
        except pygit2.GitError as e:
            raise RepoError(f"{name} moved while updating it ({e})", hint="will retry") from e


def _signature(author: Author) -> pygit2.Signature:
    return pygit2.Signature(author.name, author.email)
