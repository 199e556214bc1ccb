"""Commit graph and tree operations the sync engine needs, as plain data.

Mixed into :class:`gitsync.repo.Repo`; everything returns ids as hex strings, contents as
bytes and changes as :class:`TreeChange`, so the engine above never touches pygit2.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import DiffFind, FileMode

from gitsync.errors import RepoError
from gitsync.fsutil import fsync_path
from gitsync.gitproc import run_git
from gitsync.messages import device_of
from gitsync.model import Author
from gitsync.repo.bulk import fast_import_path

MODE_BLOB = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000

#: From this many updates on, a commit's objects go through one ``git fast-import`` (see
#: TreeOps.commit_updates).
FAST_IMPORT_MIN = 64


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

    def _read_index(self) -> pygit2.Index:  # defined by Repo
        raise NotImplementedError

    def _write_index(self, index: pygit2.Index) -> None:  # defined by Repo
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

    def hash_blob(self, data: bytes) -> str:
        """The id DATA would have as a blob, without storing it."""
        return str(pygit2.hash(data))

    def commit_updates(self, base_commit: str, updates: Mapping[str, Entry | None],
                       blobs: Mapping[str, bytes], parents: list[str], message: str,
                       author: Author, *, fast_import_min: int = FAST_IMPORT_MIN) -> str:
        """A commit (no ref moved) of BASE_COMMIT's tree with UPDATES applied, by AUTHOR.

        BLOBS holds the data of new blobs (by id, see :meth:`hash_blob`) that UPDATES refer
        to and that are not stored yet; they are written along with the trees. Every object
        is on disk when this returns. libgit2 fsyncs each object it writes (two fsyncs
        apiece): a merge of 1,000 files in 1,000 folders writes about 2,000 objects, which
        costs seconds. From FAST_IMPORT_MIN updates on, the objects go into one pack written
        by ``git fast-import`` and fsynced once.
        """
        if len(updates) + len(blobs) < fast_import_min or not _plain_ident(author):
            for data in blobs.values():
                self.write_blob(data)
            return self.create_commit(self.build_tree(base_commit, updates), parents,
                                      message, author)
        return self._fast_import_commit(base_commit, updates, blobs, parents, message,
                                        author)

    def _fast_import_commit(self, base_commit: str, updates: Mapping[str, Entry | None],
                            blobs: Mapping[str, bytes], parents: list[str], message: str,
                            author: Author) -> str:
        out: list[bytes] = [b"feature done\n"]
        marks: dict[str, int] = {}
        for oid, data in blobs.items():
            marks[oid] = len(marks) + 1
            out += [b"blob\nmark :%d\ndata %d\n" % (marks[oid], len(data)), data, b"\n"]
        commit_mark = len(marks) + 1
        # A name no other process uses; deleted again (reset to zeros) before the stream
        # ends, so fast-import never writes it.
        ref = f"refs/gitsync/fast-import-{os.getpid()}-{id(self)}".encode()
        now = int(time.time())
        off = (time.localtime(now).tm_gmtoff or 0) // 60
        who = (f"{author.name} <{author.email}> {now} "
               f"{'-' if off < 0 else '+'}{abs(off) // 60:02d}{abs(off) % 60:02d}").encode()
        msg = message.encode("utf-8")
        if parents[0] != base_commit:
            raise RepoError("a fast-import commit builds on its first parent")
        out += [b"commit %s\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n"
                % (ref, commit_mark, who, who, len(msg)), msg,
                b"\nfrom %s\n" % parents[0].encode()]
        out += [b"merge %s\n" % p.encode() for p in parents[1:]]
        # Removals first: a file may become a folder of the same name and back.
        for path, entry in updates.items():
            if entry is None:
                out.append(b"D %s\n" % fast_import_path(path))
        for path, entry in updates.items():
            if entry is not None:
                ref_to = (b":%d" % marks[entry.oid] if entry.oid in marks
                          else entry.oid.encode())
                out.append(b"M %o %s %s\n" % (entry.mode, ref_to, fast_import_path(path)))
        out += [b"\nget-mark :%d\nreset %s\nfrom %s\n\ndone\n" % (commit_mark, ref, b"0" * 40)]
        # The pack and its index are fsynced by git; the folder holding them here.
        res = run_git(["-c", "core.fsync=pack,pack-metadata,loose-object",
                       "-c", "core.fsyncMethod=fsync", "-c", "fastimport.unpackLimit=0",
                       "fast-import", "--quiet", "--done", "--cat-blob-fd=1"],
                      cwd=self.workdir, input=b"".join(out), check=True)
        fsync_path(Path(self._repo.path) / "objects" / "pack")
        oid = res.stdout.decode().strip()
        if self._repo.get(oid) is None:  # libgit2 looks for new packs on a miss
            raise RepoError(f"git fast-import wrote no commit (said {oid!r})")
        return oid

    def build_tree(self, base_commit: str | None, updates: Mapping[str, Entry | None]) -> str:
        """The tree of BASE_COMMIT with UPDATES applied (None removes a path).

        Only the trees on the updated paths are rewritten (tree builders, not an index of
        the whole folder), so the cost follows the number of changes, not the folder size.
        """
        base = self._repo[base_commit].peel(pygit2.Commit).tree if base_commit else None
        oid = self._tree_with(base, updates)
        return str(oid) if oid is not None else str(self._repo.TreeBuilder().write())

    def _tree_with(self, tree: pygit2.Tree | None, updates: Mapping[str, Entry | None]
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
            if direct.get(name) is not None and all(e is None for e in sub.values()):
                continue  # a folder that became a file: what it held is gone with it
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
        index = self._read_index()
        for path, entry in entries.items():
            if entry is None:
                if path in index:
                    index.remove(path)
            elif from_disk and path in from_disk:
                index.add(path)
            else:
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=entry.oid),
                                            FileMode(entry.mode)))
        self._write_index(index)  # Repo's: fsynced, and as git itself would write it

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


def _plain_ident(author: Author) -> bool:
    """True when AUTHOR can be written in a fast-import stream as it is."""
    return not any(c in author.name + author.email for c in "<>\n") and bool(author.email)


def _signature(author: Author) -> pygit2.Signature:
    return pygit2.Signature(author.name, author.email)
