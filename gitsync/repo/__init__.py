"""The folder's git repository: the only module that imports pygit2.

Everything above this layer sees bytes, paths and gitsync's own dataclasses. Writes are
crash-safe: libgit2's fsync of objects and refs is switched on at import, the index (which
libgit2 never fsyncs) is fsynced here after every write, and a branch moves only by
compare-and-swap against the tip that was read (libgit2 refuses a commit whose first parent
is no longer the tip, and ``Reference.set_target`` checks the old value under the ref lock).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import pygit2
from pygit2.enums import DiffFind, FileMode, FileStatus, RepositoryState
from pygit2.errors import check_error
from pygit2.ffi import C, ffi

from gitsync import scan
from gitsync.errors import LockedError, MissingPathError, PathError, RepoError, RevisionError
from gitsync.fsutil import fsync_path, syncfs
from gitsync.gitlocks import clear_stale_locks
from gitsync.gitproc import run_git
from gitsync.messages import device_of
from gitsync.model import Author, ChangeKind, CommitInfo, FileChange
from gitsync.repo.bulk import Staged, content_filters_possible, stage_into_pack
from gitsync.repo.trees import Entry, TreeChange, TreeOps, _signature
from gitsync.repo.walk import Deletion, DirEntry, HistoryOps, LogPage

logger = logging.getLogger(__name__)
T = TypeVar("T")
# With first-parent simplification the walk is one chain, newest first, without sorting;
# a sorted walk would read the whole history before yielding its first commit.
_NEWEST_FIRST = pygit2.enums.SortMode.NONE

pygit2.option(pygit2.enums.Option.ENABLE_FSYNC_GITDIR, True)
# libgit2 keeps every small commit and tree it reads in a process-wide cache of up to
# 256 MiB: a daemon committing all day grew by ~4 MB per 1,000 commits until it got there
# (with the cache off it stayed flat). The bound counts the objects' raw size, while the
# parsed objects on the heap take about 2.5 times that: at 4 MiB the cache still grew a
# daemon by ~10 MiB, slowly enough (a few hundred commits an hour) that a 30-minute soak saw
# a steady climb. At this bound it is full after ~200 commits and holds the objects of a
# round; a log page of a file reads each commit once and was no slower without any cache.
OBJECT_CACHE_BYTES = 256 * 1024
pygit2.settings.cache_max_size(OBJECT_CACHE_BYTES)
# libgit2 maps pack files in windows of up to 1 GiB and unmaps nothing until 8 GiB are
# mapped, process-wide, with no limit on open packs. So every pack it ever read stays mapped
# and open, even one a `git gc` (upkeep) has replaced and deleted: each repack added the read
# part of a whole pack to the resident set (a pack read, repacked three times, stayed mapped
# four times over). Above these bounds libgit2 closes the least recently used windows and
# packs, a deleted one included; a pack is still read in windows of MWINDOW_SIZE.
MWINDOW_SIZE = 32 * 1024 * 1024
MWINDOW_MAPPED_LIMIT = 64 * 1024 * 1024
MWINDOW_FILE_LIMIT = 128  # above git's gc.autoPackLimit (50): a folder's packs stay open
pygit2.settings.mwindow_size = MWINDOW_SIZE
pygit2.settings.mwindow_mapped_limit = MWINDOW_MAPPED_LIMIT
pygit2.settings.mwindow_file_limit = MWINDOW_FILE_LIMIT

# From this many paths on, staging writes one pack (see Repo._stage_packed).
BULK_THRESHOLD = 200
# libgit2's GIT_INDEX_ENTRY_UPTODATE (in-memory only: never written to disk).
_ENTRY_UPTODATE = 1 << 2

_REBASE = "a rebase is in progress (finish it or run 'git rebase --abort')"
_PAUSE_STATES = {
    RepositoryState.MERGE: "a merge is in progress (finish it with 'git commit' or abort it)",
    RepositoryState.REVERT: "a revert is in progress (finish or abort it with git)",
    RepositoryState.REVERT_SEQUENCE: "a revert is in progress (finish or abort it with git)",
    RepositoryState.CHERRYPICK: "a cherry-pick is in progress (finish or abort it with git)",
    RepositoryState.CHERRYPICK_SEQUENCE: "a cherry-pick is in progress (finish or abort it)",
    RepositoryState.BISECT: "a bisect is in progress (end it with 'git bisect reset')",
    RepositoryState.REBASE: _REBASE,
    RepositoryState.REBASE_INTERACTIVE: _REBASE,
    RepositoryState.REBASE_MERGE: _REBASE,
    RepositoryState.APPLY_MAILBOX: "'git am' is in progress (finish it or run 'git am --abort')",
    RepositoryState.APPLY_MAILBOX_OR_REBASE: "'git am' or a rebase is in progress (finish it)",
}


@dataclass(frozen=True)
class StagedPath:
    """What staging one path found: committed, or held back and why."""

    path: str
    # "staged" | "unchanged" | "unstable" | "unreadable" | "disk-full" | "too-large"
    status: str
    detail: str = ""
    entry: Entry | None = None  # for "staged": the new blob (None: the path was removed)
    stat: tuple[int, int] | None = None  # (size, mtime_ns) of the file that was hashed


@dataclass(frozen=True)
class CommitOutcome:
    commit: CommitInfo | None
    held_back: tuple[StagedPath, ...]


__all__ = ["Author", "CommitInfo", "Deletion", "DirEntry", "Entry", "LogPage", "Repo",
           "TreeChange"]


def is_inside_repo(path: Path) -> Path | None:
    """The work tree root of the git repository containing PATH, if any."""
    try:
        found = pygit2.discover_repository(str(path))
    except pygit2.GitError:
        return None
    if not found:
        return None
    repo = pygit2.Repository(found)
    return Path(repo.workdir).resolve() if repo.workdir else None


def init_bare(path: Path, branch: str = "main") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pygit2.init_repository(str(path), bare=True, initial_head=branch)


def holds_no_history(path: Path) -> bool:
    """PATH has no ref: a repository as init_bare leaves it, or one it did not finish."""
    try:
        return not list(pygit2.Repository(str(path)).references)
    except pygit2.GitError:
        return True


class Repo(TreeOps, HistoryOps):
    """One synced folder's repository (a normal, non-bare git repo)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir.resolve()
        try:
            self._repo = pygit2.Repository(str(self.workdir))
        except pygit2.GitError as e:
            raise RepoError(f"{self.workdir} is not a git repository ({e})") from e
        if self._repo.is_bare or not self._repo.workdir:
            raise RepoError(f"{self.workdir} is a bare repository, not a folder")
        self.gitdir = Path(self._repo.path).resolve()
        self._index_todo: dict[str, StagedPath] = {}

    # ----------------------------------------------------------------- creation
    @classmethod
    def init(cls, workdir: Path, branch: str = "main") -> Repo:
        pygit2.init_repository(str(workdir), initial_head=branch)
        return cls(workdir)

    # ----------------------------------------------------------------- state
    def branch(self) -> str:
        head = self._repo.references.get("HEAD")
        if head is not None and head.type == pygit2.enums.ReferenceType.SYMBOLIC:
            target = str(head.target)
            return target.removeprefix("refs/heads/")
        return "HEAD"

    def pause_reason(self) -> str | None:
        """Why gitsync must leave this repo alone right now, or None."""
        state = self._repo.state()
        if state in _PAUSE_STATES:
            return _PAUSE_STATES[state]
        if self._repo.head_is_detached:
            return "HEAD is detached (run 'git switch BRANCH' to go back to a branch)"
        return None

    def head_id(self) -> str | None:
        if self._repo.head_is_unborn:
            return None
        return str(self._repo.head.target)

    def head_commit(self, max_changes: int | None = None) -> CommitInfo | None:
        hid = self.head_id()
        return self.commit_info(hid, max_changes=max_changes) if hid else None

    def author(self, device: str) -> Author:
        """The user's git identity, or one named after DEVICE when git has none."""
        cfg = self._repo.config
        try:
            name, email = str(cfg["user.name"]), str(cfg["user.email"])
        except KeyError:
            name, email = device, f"gitsync@{device or socket.gethostname()}"
        return Author(name, email)

    def is_ignored(self, relpath: str) -> bool:
        try:
            return bool(self._repo.path_is_ignored(relpath))
        except pygit2.GitError:
            return False

    def install_excludes(self, patterns: Iterable[str]) -> None:
        """Write gitsync's built-in ignore list into ``.git/info/exclude`` (local, never
        committed) so ``git status`` in the folder agrees with gitsync about temp files."""
        path = self.gitdir / "info" / "exclude"
        begin, end = "# >>> gitsync built-in ignores", "# <<< gitsync built-in ignores"
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        if begin in text:
            head, _, rest = text.partition(begin)
            _, _, tail = rest.partition(end)
            text = head + tail.lstrip("\n")
        block = "\n".join([begin, *patterns, end])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.rstrip("\n") + ("\n" if text.strip() else "") + block + "\n")

    def clear_stale_locks(self) -> list[Path]:
        return clear_stale_locks(self.gitdir, self.workdir)

    # ----------------------------------------------------------------- scanning
    def changed_paths(self, *, use_cli: bool = True) -> list[str]:
        """Every path whose working copy differs from HEAD (modified, new, deleted).

        Uses the index's stat cache. The git CLI is measurably faster than libgit2's status on
        big trees (see scripts/bench/bench_watch.py), so it is the default; it runs with
        ``--no-optional-locks`` so it never takes the index lock from under the user.
        """
        if use_cli:
            return scan.changed_paths(self.workdir)
        result = []
        for path, flags in self._repo.status(untracked_files="all").items():
            if flags & FileStatus.IGNORED:
                continue
            result.append(path)
        return result

    # ----------------------------------------------------------------- committing
    def commit_paths(
        self,
        paths: Iterable[str],
        *,
        device: str,
        size_limit: int,
        message_for: Callable[[list[FileChange]], str],
        progress: Callable[[int, int], None] | None = None,
        whole_tree: bool = False,
        defer_index: bool = False,
    ) -> CommitOutcome:
        """Stage exactly PATHS from the working tree and commit them if anything changed.

        Only the given paths are looked at: no scan, no re-hash of the rest of the tree.
        A file whose size or mtime changes while it is hashed is held back ("unstable") so a
        half-written file is never committed; the caller retries it later. ``whole_tree``
        says PATHS are every change in the folder (a first snapshot, a start-up scan), which
        lets a big batch that must go through ``git add`` use one ``git add -A``.
        """
        reason = self.pause_reason()
        if reason:
            raise RepoError(f"paused: {reason}")
        head_tree = None if self._repo.head_is_unborn else self._repo.head.peel(pygit2.Commit).tree
        parent = self.head_id()
        held: list[StagedPath] = []
        todo = sorted(set(paths))
        if len(todo) >= BULK_THRESHOLD:
            self.flush_index()
            packed = self._with_lock_retry(lambda: self._stage_packed(todo, size_limit,
                                                                      progress))
            if packed is not None:
                held_back, tree_id = packed
                return self._commit_tree(head_tree, parent, tree_id, held_back, device,
                                         message_for)
            bulk = self._with_lock_retry(lambda: self._stage_bulk(todo, size_limit, progress,
                                                                 whole_tree))
            if bulk is not None:
                index = self._read_index()
                tree_id = str(index.write_tree())
                self._write_index(index)  # with the cached trees write_tree just filled in
                return self._commit_tree(head_tree, parent, tree_id, bulk, device,
                                         message_for)
        # Few paths: hash them into blobs and build the new tree from HEAD's, touching only
        # the trees on those paths. The index is brought up to date afterwards
        # (flush_index), once the commit exists: that write is the slow part on big folders.
        updates: dict[str, Entry | None] = {}
        staged: list[StagedPath] = []
        for n, path in enumerate(todo, 1):
            if progress is not None and (n % 500 == 0 or n == len(todo)):
                progress(n, len(todo))
            outcome = self._stage_one(path, size_limit, head_tree)
            if outcome.status == "staged":
                updates[path] = outcome.entry
                staged.append(outcome)
            elif outcome.status == "unchanged":
                if whole_tree:
                    # A scan found it, so the index disagrees with a file equal to HEAD's,
                    # or holds a path neither HEAD nor the disk has: a crash between a
                    # round's branch move and its index write. Set the index right (an
                    # unchanged path without an entry is one HEAD does not track).
                    staged.append(outcome)
            else:
                held.append(outcome)
        if not updates:
            for st in staged:
                self._index_todo[st.path] = st
            if staged and not defer_index:
                self.flush_index()
            return CommitOutcome(None, tuple(held))
        tree_id = self.build_tree(parent, updates)
        result = self._commit_tree(head_tree, parent, tree_id, held, device, message_for,
                                   within=_common_dir(updates))
        for st in staged:
            self._index_todo[st.path] = st
        if not defer_index:
            self.flush_index()
        return result

    def warm_up(self) -> None:
        """Load now what the first commit would otherwise load on a user's save: the
        attribute files that filter a blob, libgit2's diff machinery, HEAD's root tree and
        the index (tens of milliseconds together on a big folder). Writes nothing."""
        try:
            self._repo.get_attr(".gitattributes", "filter")
            self.author("")
            index = self._read_index()
            if self._repo.head_is_unborn or not len(index):
                return
            tree = self._repo.head.peel(pygit2.Commit).tree
            # A commit compares the trees of the folder it changed (see _common_dir): one
            # folder's tree against itself loads the same machinery.
            folder = _common_dir([str(index[0].path)])
            sub = _subtree(tree, folder) if folder else tree
            self._tree_changes(sub, sub)
        except (pygit2.GitError, OSError) as e:  # only a head start: the commit does it all
            logger.debug("%s: warm-up skipped: %s", self.workdir, e)

    def flush_index(self) -> None:
        """Write the index entries of paths committed since the last flush."""
        if not self._index_todo:
            return
        todo, self._index_todo = self._index_todo, {}
        logger.debug("writing the index (%d path(s))", len(todo))

        def write() -> None:
            index = self._read_index()
            for path, st in todo.items():
                if st.entry is None:
                    if path in index:
                        index.remove(path)
                    continue
                try:
                    now = (self.workdir / path).lstat()
                    same = (now.st_size, now.st_mtime_ns) == st.stat
                except OSError:
                    same = False
                if same:
                    try:
                        index.add(path)  # from the file: the index gets fresh stat data
                        continue
                    except pygit2.GitError:
                        pass  # replaced or rewritten while read: no stat data, git rehashes
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=st.entry.oid),
                                            FileMode(st.entry.mode)))
            self._write_index(index)

        try:
            self._with_lock_retry(write)
        except Exception:  # locked, or the disk is full: written at the next flush
            self._index_todo = {**todo, **self._index_todo}
            raise

    def _commit_tree(self, head_tree: pygit2.Tree | None, parent: str | None, tree_id: str,
                     held: list[StagedPath], device: str,
                     message_for: Callable[[list[FileChange]], str],
                     within: str = "") -> CommitOutcome:
        """Commit TREE_ID on PARENT. WITHIN: a folder every change is inside of, so only
        that folder's trees are compared for the commit's list of changes."""
        if head_tree is not None and tree_id == str(head_tree.id):
            return CommitOutcome(None, tuple(held))
        changes = self._tree_changes_within(head_tree, self._repo[tree_id].peel(pygit2.Tree),
                                            within)
        if not changes:
            return CommitOutcome(None, tuple(held))
        message = message_for(changes)
        sig = _signature(self.author(device))
        parents = [pygit2.Oid(hex=parent)] if parent else []
        ref = "HEAD"
        try:
            oid = self._with_lock_retry(
                lambda: self._repo.create_commit(ref, sig, sig, message, tree_id, parents)
            )
        except pygit2.GitError as e:
            raise RepoError(f"could not commit in {self.workdir} ({e})",
                            hint="the branch moved meanwhile; will retry") from e
        info = _info(self._repo[oid].peel(pygit2.Commit), tuple(changes))
        return CommitOutcome(info, tuple(held))

    def _stage_packed(self, paths: list[str], size_limit: int,
                      progress: Callable[[int, int], None] | None
                      ) -> tuple[list[StagedPath], str] | None:
        """Stage many paths by writing them straight into one pack (see repo/bulk.py).

        The index gets each file's blob id with the stat data of the very read that was
        hashed, and a cached tree for every folder, so ``git status`` neither re-hashes the
        files nor rebuilds trees. Order of durability: the pack and its index are fsynced,
        then the index; only then does the caller write the commit and move the branch.
        Returns what was held back and the index's tree, or None when the files must go
        through ``git add`` (content filters may apply, or fast-import failed).
        """
        if content_filters_possible(self.workdir, self.gitdir, paths, self.config_value):
            return None
        index = self._read_index()
        try:
            result = stage_into_pack(self.workdir, self.gitdir, paths, head=self.head_id(),
                                     tracked=index.__contains__, size_limit=size_limit,
                                     progress=progress)
        except RepoError as e:
            logger.warning("%s; staging with git add", e)
            return None
        index = self._read_index()
        for path in result.removed:
            if path in index:
                index.remove(path)
        for item in result.staged:
            _add_with_stat(index, item)
        tree_id = str(index.write_tree())
        self._write_index(index)
        return [StagedPath(p, status, detail) for p, status, detail in result.held], tree_id

    def _stage_bulk(self, paths: list[str], size_limit: int,
                    progress: Callable[[int, int], None] | None,
                    whole_tree: bool = False) -> list[StagedPath] | None:
        """Stage many paths at once with ``git add`` (a first snapshot, a folder copied in).

        libgit2 writes one loose object per call and, with fsync on, syncs each one; git's
        objects are made durable with one filesystem flush at the end instead, which is
        several times faster on big folders. Returns what was held back, or None when git
        failed and the caller should stage path by path instead.
        """
        index = self._read_index()
        held: list[StagedPath] = []
        before: dict[str, tuple[int, int]] = {}
        args: list[str] = []
        for path in paths:
            full = self.workdir / path
            try:
                st = full.lstat()
            except FileNotFoundError:
                if path in index:
                    args.append(path)
                continue
            except OSError as e:
                held.append(StagedPath(path, "unreadable", e.strerror or str(e)))
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            if stat.S_ISREG(st.st_mode):
                if st.st_size > size_limit:
                    held.append(StagedPath(path, "too-large",
                                           f"{st.st_size} bytes > limit {size_limit}"))
                    continue
                if not os.access(full, os.R_OK):
                    held.append(StagedPath(path, "unreadable", "permission denied"))
                    continue
            elif not stat.S_ISLNK(st.st_mode):
                continue
            before[path] = (st.st_size, st.st_mtime_ns)
            args.append(path)
        if not args:
            return held
        # No per-object fsync (git's batch mode still costs about 2x here): one syncfs
        # after git is done makes every object durable before the commit and ref are made.
        if whole_tree:
            # Pathspec matching of thousands of literal paths is slow in git; when the batch
            # is the whole folder, `add -A` minus what was held back stages the same set
            # (gitsync's ignore patterns are in .git/info/exclude, see install_excludes).
            excludes = [f":(exclude,literal){h.path}" for h in held]
            cmd = ["add", "-A", "--verbose", "--", ".", *excludes]
            args_in = b""
        else:
            cmd = ["--literal-pathspecs", "add", "--verbose", "--pathspec-from-file=-",
                   "--pathspec-file-nul", "--"]
            args_in = b"".join(os.fsencode(p) + b"\0" for p in args)
        # git prints one "add 'path'" line per staged path: count them for progress.
        lines = 0

        def count(chunk: bytes) -> None:
            nonlocal lines
            before, lines = lines, lines + chunk.count(b"\n")
            if progress is not None and lines // 500 > before // 500:
                progress(min(lines, len(args)), len(args))

        result = run_git(cmd, cwd=self.workdir, input=args_in, on_stdout=count)
        err = result.stderr
        if not result.ok:
            if "index.lock" in err:
                raise pygit2.GitError(f"index is locked: {self.gitdir / 'index.lock'}")
            logger.warning("bulk staging failed (%s); staging file by file", err.strip())
            return None
        if progress is not None:
            progress(len(args), len(args))
        syncfs(self.gitdir)
        # A file that changed while git read it may be half-written in the index: put the
        # committed version back and let the caller retry it.
        index = self._read_index()
        head = None if self._repo.head_is_unborn else self._repo.head.peel(pygit2.Commit).tree
        changed = False
        for path, sig in before.items():
            try:
                st = (self.workdir / path).lstat()
                now = (st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                now = (-1, -1)
            if now != sig:
                changed = True
                held.append(StagedPath(path, "unstable", "still being written"))
                old = _tree_entry_id(head, path)
                if old is None:
                    index.remove(path)
                else:
                    assert head is not None
                    committed = head[path]
                    index.add(pygit2.IndexEntry(path, committed.id, committed.filemode))
        if changed:
            self._write_index(index)
        return held

    def _read_index(self) -> pygit2.Index:
        index = self._repo.index
        index.read(False)
        return index

    def _write_index(self, index: pygit2.Index) -> None:
        """Write INDEX durably, with a valid cached tree for every folder.

        git's ``status`` compares HEAD with the index through the cached-tree ("TREE")
        extension; without it git walks all of HEAD's trees, which costs it half again as
        long on a big folder. libgit2 writes that extension only from a filled tree cache,
        which ``write_tree`` refills: the trees already exist after a commit, so this
        writes no objects, only looks them up.
        """
        with contextlib.suppress(pygit2.GitError):  # conflicts: git caches no tree either
            index.write_tree()
        try:
            index.write()
        except pygit2.GitError as e:
            if ".lock" in str(e) or "locked" in str(e):
                raise  # for _with_lock_retry
            raise RepoError(f"cannot write the index of {self.workdir}: {e}",
                            hint="will retry") from e
        fsync_path(self.gitdir / "index")

    def _stage_one(self, path: str, size_limit: int, head_tree: pygit2.Tree | None
                   ) -> StagedPath:
        """Hash PATH from the working tree into a blob, unless it cannot or must not be."""
        full = self.workdir / path
        try:
            committed = head_tree[path] if head_tree is not None else None
        except KeyError:
            committed = None
        if committed is not None and committed.type_str != "blob":
            committed = None
        try:
            st = full.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return StagedPath(path, "staged" if committed is not None else "unchanged")
        except OSError as e:
            return StagedPath(path, "unreadable", e.strerror or str(e))
        if stat.S_ISDIR(st.st_mode):  # a file replaced by a folder: its files come as events
            return StagedPath(path, "staged" if committed is not None else "unchanged")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            return StagedPath(path, "unchanged")  # sockets, fifos: git does not track them
        if stat.S_ISREG(st.st_mode) and st.st_size > size_limit:
            # A tracked file that grew past the limit keeps its last committed version.
            return StagedPath(path, "too-large", f"{st.st_size} bytes > limit {size_limit}")
        if stat.S_ISREG(st.st_mode) and not os.access(full, os.R_OK):
            return StagedPath(path, "unreadable", "permission denied")
        try:
            if stat.S_ISLNK(st.st_mode):
                oid = self._repo.create_blob(os.fsencode(os.readlink(full)))
                mode = FileMode.LINK
            else:
                oid = self._repo.create_blob_fromworkdir(path)
                mode = FileMode.BLOB_EXECUTABLE if st.st_mode & 0o100 else FileMode.BLOB
        except (pygit2.GitError, OSError) as e:
            if _disk_full(e):  # the object could not be written: nothing wrong with the file
                return StagedPath(path, "disk-full", "no space left on the disk")
            try:
                changed = full.lstat()
                moved = (changed.st_size, changed.st_mtime_ns) != (st.st_size, st.st_mtime_ns)
            except OSError:
                moved = True
            if moved:
                return StagedPath(path, "unstable", "still being written")
            return StagedPath(path, "unreadable", str(e))
        try:
            after = full.lstat()
        except OSError:
            return StagedPath(path, "unstable", "deleted while being read")
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            return StagedPath(path, "unstable", "still being written")
        if committed is not None and committed.id == oid and int(committed.filemode) == mode:
            return StagedPath(path, "unchanged", entry=Entry(str(oid), int(mode)),
                              stat=(st.st_size, st.st_mtime_ns))
        return StagedPath(path, "staged", entry=Entry(str(oid), int(mode)),
                          stat=(st.st_size, st.st_mtime_ns))

    def _with_lock_retry(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (pygit2.GitError, OSError) as e:
            # libgit2 reports a locked index as a GitError but a locked ref as an OSError
            # ("failed to lock file '.../refs/heads/main.lock' for writing")
            if ".lock" not in str(e) and "locked" not in str(e):
                raise
            removed = self.clear_stale_locks()
            if not removed:
                raise LockedError(
                    f"{self.workdir}: git is busy (a lock is held by a running git command)",
                    lock_path=_lock_from_message(str(e)),
                    hint="will retry shortly",
                ) from e
            return fn()

    # ----------------------------------------------------------------- history
    def _tree_changes(self, old: pygit2.Tree | None, new: pygit2.Tree | None) -> list[FileChange]:
        if old is None:  # a first commit: every file is new, no renames to look for
            if new is None:
                return []
            return [FileChange(d.new_file.path, ChangeKind.ADDED, None)
                    for d in new.diff_to_tree(swap=True).deltas]
        kinds = {"A": ChangeKind.ADDED, "D": ChangeKind.DELETED, "R": ChangeKind.RENAMED,
                 "M": ChangeKind.MODIFIED}
        found = DiffFind.FIND_RENAMES | DiffFind.FIND_EXACT_MATCH_ONLY
        return [
            FileChange(c.new_path or c.old_path or "", kinds[c.status],
                       c.old_path if c.status == "R" else None)
            for c in self._diff_trees(old, new, found)
        ]

    def _tree_changes_within(self, old: pygit2.Tree | None, new: pygit2.Tree, within: str
                             ) -> list[FileChange]:
        """:meth:`_tree_changes` of OLD and NEW when every change is inside the folder
        WITHIN: libgit2 walks every entry of both trees, equal subtrees too (about 10 ms
        of CPU on a 100,000-file folder), so only WITHIN's subtrees are compared."""
        if not within or old is None:
            return self._tree_changes(old, new)
        try:
            old_sub, new_sub = _subtree(old, within), _subtree(new, within)
        except NotADirectoryError:  # a file there, not a folder: compare all
            return self._tree_changes(old, new)
        prefix = within + "/"
        return [FileChange(prefix + c.path, c.kind, prefix + c.old_path if c.old_path else None)
                for c in self._tree_changes(old_sub, new_sub)]

    def _commit_info(self, commit: pygit2.Commit, changes: tuple[FileChange, ...]
                     ) -> CommitInfo:
        return _info(commit, changes)

    def commit_info(self, oid: str, *, with_changes: bool = True,
                    max_changes: int | None = None) -> CommitInfo:
        """OID's details; with MAX_CHANGES, at most that many of its changes, and
        ``changes_truncated`` set when it made more."""
        commit = self._repo[oid].peel(pygit2.Commit)
        changes: tuple[FileChange, ...] = ()
        if with_changes:
            parent_tree = commit.parents[0].tree if commit.parents else None
            changes = tuple(self._changes(parent_tree, commit.tree, max_changes))
        if max_changes is not None and len(changes) > max_changes:
            return replace(_info(commit, changes[:max_changes]), changes_truncated=True)
        return _info(commit, changes)

    def log(self, path: str | None = None, limit: int | None = None,
            start: str | None = None) -> Iterator[CommitInfo]:
        """Newest first. With PATH, only commits that changed it, following renames back."""
        if self._repo.head_is_unborn and start is None:
            return
        walker = self._repo.walk(start or self._repo.head.target,
                                 _NEWEST_FIRST)
        walker.simplify_first_parent()
        count = 0
        current = path
        for commit in walker:
            if limit is not None and count >= limit:
                return
            parent_tree = commit.parents[0].tree if commit.parents else None
            if current is None:
                yield _info(commit, tuple(self._changes(parent_tree, commit.tree)))
                count += 1
                if limit is not None and count >= limit:
                    return  # before the walk reads the next commit
                continue
            if not self._path_changed(commit, parent_tree, current):
                continue
            changes = self._changes(parent_tree, commit.tree)
            mine = [c for c in changes if c.path == current]
            if not mine:
                continue
            yield _info(commit, tuple(mine))
            count += 1
            if mine[0].kind == ChangeKind.RENAMED and mine[0].old_path:
                current = mine[0].old_path
            elif mine[0].kind == ChangeKind.ADDED:
                return

    def _path_changed(self, commit: pygit2.Commit, parent_tree: pygit2.Tree | None,
                      path: str) -> bool:
        new = _tree_entry_id(commit.tree, path)
        old = _tree_entry_id(parent_tree, path) if parent_tree is not None else None
        return new != old

    def resolve(self, rev: str) -> str:
        try:
            obj = self._repo.revparse_single(rev)
            return str(obj.peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as e:
            raise RevisionError(f"unknown revision {rev!r}", rev=rev,
                                hint="use a commit id from 'gitsync log' or a time like 2h") from e

    def commit_before(self, when: float) -> str | None:
        """The newest first-parent commit made at or before WHEN (epoch seconds)."""
        if self._repo.head_is_unborn:
            return None
        walker = self._repo.walk(self._repo.head.target, _NEWEST_FIRST)
        walker.simplify_first_parent()
        for commit in walker:
            if commit.commit_time <= when:
                return str(commit.id)
        return None

    def read_file(self, commit_id: str, path: str) -> tuple[bytes, int]:
        """The content and git file mode of PATH at a commit."""
        commit = self._repo[commit_id].peel(pygit2.Commit)
        try:
            entry = commit.tree[path]
        except KeyError:
            raise MissingPathError(f"{path} does not exist in version {commit_id[:10]}", path=path,
                            hint="see 'gitsync log PATH' for its versions") from None
        if entry.type_str != "blob":
            raise PathError(f"{path} is a folder, not a file", path=path)
        return self._repo[entry.id].read_raw(), int(entry.filemode)

    def tracked_under(self, dirs: Iterable[str]) -> list[str]:
        """Index paths under any of DIRS (a directory deleted or moved away)."""
        prefixes = tuple(d.rstrip("/") + "/" for d in dirs)
        index = self._repo.index
        index.read(False)
        return [e.path for e in index if e.path.startswith(prefixes)]

    def count_unpushed(self, remote_ref: str) -> int | None:
        hid = self.head_id()
        if hid is None:
            return 0
        ref = self._repo.references.get(remote_ref)
        if ref is None:
            return None
        ahead, _behind = self._repo.ahead_behind(hid, ref.target)
        return int(ahead)

    def set_remote(self, name: str, url: str) -> None:
        if name in self._repo.remotes.names():
            self._repo.remotes.set_url(name, url)
        else:
            self._repo.remotes.create(name, url)

    def config_value(self, key: str) -> str | None:
        try:
            return str(self._repo.config[key])
        except KeyError:
            return None

    def remote_url(self, name: str = "origin") -> str | None:
        try:
            return str(self._repo.remotes[name].url)
        except KeyError:
            return None


def _add_with_stat(index: pygit2.Index, item: Staged) -> None:
    """Add ITEM to INDEX with the stat data of the read that was hashed.

    pygit2's IndexEntry carries no stat data (git would then re-hash every such file on
    each ``git status``), so the libgit2 entry is filled in through pygit2's cffi handle.
    The entry is marked up to date: its content was just hashed, so libgit2 need not
    re-read it as "racily clean" when the index is written.
    """
    st = item.st
    c = ffi.new("git_index_entry *")
    c.ctime.seconds = _int32(st.st_ctime_ns // 1_000_000_000)
    c.ctime.nanoseconds = st.st_ctime_ns % 1_000_000_000
    c.mtime.seconds = _int32(st.st_mtime_ns // 1_000_000_000)
    c.mtime.nanoseconds = st.st_mtime_ns % 1_000_000_000
    c.dev = st.st_dev & 0xFFFFFFFF
    c.ino = st.st_ino & 0xFFFFFFFF
    c.mode = item.mode
    c.uid = st.st_uid & 0xFFFFFFFF
    c.gid = st.st_gid & 0xFFFFFFFF
    c.file_size = st.st_size & 0xFFFFFFFF
    ffi.buffer(ffi.addressof(c, "id"))[:] = item.oid
    c.flags_extended = _ENTRY_UPTODATE
    path = ffi.new("char[]", os.fsencode(item.path))
    c.path = path
    check_error(C.git_index_add(index._index, c))


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _tree_entry_id(tree: pygit2.Tree | None, path: str) -> str | None:
    if tree is None:
        return None
    try:
        return str(tree[path].id)
    except KeyError:
        return None


def _common_dir(paths: Iterable[str]) -> str:
    """The deepest folder that holds every one of PATHS ("" for the top)."""
    common: list[str] | None = None
    for path in paths:
        parts = path.split("/")[:-1]
        if common is None:
            common = parts
            continue
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
        if not common:
            break
    return "/".join(common or [])


def _subtree(tree: pygit2.Tree, path: str) -> pygit2.Tree | None:
    """The folder PATH inside TREE (None when absent). Raises NotADirectoryError when a
    file stands at PATH or at one of the folders on the way to it."""
    sub: pygit2.Tree | None = tree
    for name in path.split("/"):
        assert sub is not None
        try:
            entry = sub[name]
        except KeyError:
            return None
        if entry.type_str != "tree":
            raise NotADirectoryError(path)
        sub = entry.peel(pygit2.Tree)
    return sub


def _lock_from_message(msg: str) -> str:
    for word in msg.replace("'", " ").split():
        if word.endswith(".lock"):
            return word
    return ""


def _info(commit: pygit2.Commit, changes: tuple[FileChange, ...]) -> CommitInfo:
    message = commit.message
    device = device_of(message)
    return CommitInfo(
        id=str(commit.id),
        message=message,
        summary=message.split("\n", 1)[0],
        author=f"{commit.author.name} <{commit.author.email}>",
        device=device,
        time=int(commit.commit_time),
        offset=int(commit.commit_time_offset),
        parents=tuple(str(p) for p in commit.parent_ids),
        changes=changes,
    )


def _disk_full(e: Exception) -> bool:
    """Whether E is a write refused for want of space (libgit2 reports it in its message)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(m in str(e) for m in ("No space left on device", "Disk quota exceeded"))
