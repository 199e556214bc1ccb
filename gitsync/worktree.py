"""Bringing incoming changes onto the disk without ever overwriting a user's save.

A file is replaced only if its content on disk still equals the last committed local
version, checked right before an atomic replace (temp file in the same directory, fsync,
rename, mode kept). A file the user changed meanwhile is left alone and reported as
*dirty*: the caller commits that save first and merges again. A file open in an editor
that keeps a lock file beside it (Word's ``~$...``, LibreOffice's ``.~lock.NAME#``) is not
replaced under the user's feet: it *waits* until the lock is gone.

Every incoming path is checked before anything is written: a path that escapes the folder
or aliases ``.git`` (``../x``, ``.GIT``, ``git~1``, a component behind a symlink) makes the
whole update fail with :class:`UnsafePathError`, and nothing is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gitsync.errors import RuntimeFailure
from gitsync.fsutil import atomic_write, syncfs, umask
from gitsync.repo import Entry, Repo
from gitsync.repo.trees import MODE_EXEC, MODE_LINK
from gitsync.safepath import unsafe_reason

logger = logging.getLogger(__name__)

#: From this many file writes on, an update writes WRITERS files at a time.
PARALLEL_MIN = 16
WRITERS = 4


class UnsafePathError(RuntimeFailure):
    """An incoming commit holds a path that would write outside the folder or into .git."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, hint="nothing was written; the remote holds a hostile or "
                                        "broken commit, ask its author to remove that path")
        self.path = path


def check_path(path: str) -> None:
    why = unsafe_reason(path)
    if why is not None:
        raise UnsafePathError(f"refusing incoming path {path!r} ({why})", path=path)


MODE_GITLINK = 0o160000


def check_entry(path: str, entry: Entry) -> None:
    """check_path, and refuse a submodule link: its commit is in another repository, so
    there is nothing gitsync could write there."""
    check_path(path)
    if entry.mode == MODE_GITLINK:
        raise UnsafePathError(f"refusing incoming submodule link {path!r}", path=path)


def lock_files_for(path: Path) -> list[Path]:
    """Editor lock files that say PATH is open right now."""
    name = path.name
    d = path.parent
    candidates = [d / f".~lock.{name}#", d / f"~${name}"]
    # Word shortens the owner file's name: "~$" + the name without its first 1-2 chars.
    if len(name) > 2:
        candidates += [d / f"~${name[1:]}", d / f"~${name[2:]}"]
    return [c for c in candidates if c.exists()]


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # path -> why
    dirty: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Op:
    path: str
    expect: Entry | None  # what must be on disk now (the last committed local version)
    new: Entry | None  # what to put there (None: remove)


class WorktreeUpdater:
    def __init__(self, repo: Repo, own_write: Callable[[str, Entry | None], None] | None = None
                 ) -> None:
        self.repo = repo
        self.root = repo.workdir
        self.own_write = own_write or (lambda _p, _e: None)
        self._batch = False  # many files: one filesystem flush at the end, not one each

    def plan(self, old: str | None, new: str) -> list[_Op]:
        ops: list[_Op] = []
        for c in self.repo.diff_commits(old, new, renames=False):
            if c.status == "A":
                assert c.new_path
                ops.append(_Op(c.new_path, None, c.new))
            elif c.status == "D":
                assert c.old_path
                ops.append(_Op(c.old_path, c.old, None))
            else:
                assert c.new_path
                ops.append(_Op(c.new_path, c.old, c.new))
        for op in ops:
            if op.new is not None:
                check_entry(op.path, op.new)
        # Deletes first: a file may be replaced by a folder of the same name.
        ops.sort(key=lambda o: (o.new is not None, o.path))
        return ops

    def dirty_paths(self, ops: list[_Op]) -> list[str]:
        return [op.path for op in ops if not self._matches(op.path, op.expect)]

    def _matches(self, path: str, expect: Entry | None) -> bool:
        try:
            disk = self.repo.disk_entry(path)
        except OSError:
            return False
        if expect is None:
            return disk is None
        if disk is None:
            return False
        # A mode the filesystem cannot show (exec bit on some mounts) is not a user edit.
        return disk.oid == expect.oid

    def apply(self, old: str | None, new: str, *, only: set[str] | None = None,
              keep: dict[str, str] | None = None,
              before_writes: Callable[[], None] | None = None) -> ApplyResult:
        """Make the disk go from commit OLD to commit NEW where it is safe to. KEEP: paths
        whose local file stays as it is (with the reason), reported as waiting.
        BEFORE_WRITES is called once no file was found saved meanwhile, right before the
        first write (not at all when the update stops for a dirty file)."""
        ops = self.plan(old, new)
        if only is not None:
            ops = [op for op in ops if op.path in only]
        result = ApplyResult()
        if keep:
            result.waiting.update({op.path: keep[op.path] for op in ops if op.path in keep})
            ops = [op for op in ops if op.path not in keep]
        result.dirty = self.dirty_paths(ops)
        if result.dirty:
            return result
        for op in ops:
            self._check_parents(op.path)
        if before_writes is not None:
            before_writes()
        self._batch = len(ops) > 16
        try:
            self._apply_ops(ops, result)
        finally:
            if self._batch:
                syncfs(self.root)  # one flush for the batch before the branch moves
            self._batch = False
        return result

    def _apply_ops(self, ops: list[_Op], result: ApplyResult) -> None:
        # Removals first and in order (emptied folders are pruned, a file may give way to a
        # folder); then the writes, which touch one path each.
        writes = [op for op in ops if op.new is not None]
        for op in ops:
            if op.new is None:
                self._record(result, op, self._apply_op(op))
        if len(writes) <= PARALLEL_MIN:
            for op in writes:
                self._record(result, op, self._apply_op(op))
            return
        # A replace costs the filesystem a journal update and the start of the new data's
        # writeback, mostly waiting: a few at a time take a fraction of the time. Each file
        # is still checked right before its own replace.
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="gitsync-write") as pool:
            futures = [pool.submit(self._apply_op, op) for op in writes]
            try:
                for op, fut in zip(writes, futures, strict=True):
                    self._record(result, op, fut.result())
            except BaseException:
                for fut in futures:  # stop at the first failure, as one at a time would
                    fut.cancel()
                raise

    @staticmethod
    def _record(result: ApplyResult, op: _Op, outcome: str) -> None:
        if outcome == "dirty":
            result.dirty.append(op.path)  # saved in the last instant: left alone
        elif outcome == "removed":
            result.removed.append(op.path)
        elif outcome == "written":
            result.written.append(op.path)
        else:
            result.waiting[op.path] = outcome

    def _apply_op(self, op: _Op) -> str:
        """Check OP's file right before changing it, then change it: "written", "removed",
        "dirty", or why it waits."""
        full = self.root / op.path
        locks = lock_files_for(full)
        if locks:
            return f"open in an editor ({locks[0].name})"
        if not self._matches(op.path, op.expect):
            return "dirty"
        if op.new is None:
            with contextlib.suppress(FileNotFoundError):
                self.own_write(op.path, None)
                full.unlink()
            self._prune_dirs(full.parent)
            return "removed"
        self.own_write(op.path, op.new)
        # Checked again once the new content is written and synced, right before the
        # rename: a save landing during that time must not be replaced.
        if not self._write(full, op.new, still_safe=lambda: self._matches(op.path, op.expect)):
            return "dirty"
        return "written"

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many ``write_one`` calls: one filesystem flush (syncfs) when the block ends
        instead of two fsyncs per file (a clone of 100,000 files spent minutes in them)."""
        self._batch = True
        try:
            yield
        finally:
            self._batch = False
            syncfs(self.root)

    def write_one(self, path: str, entry: Entry | None) -> None:
        """Put ENTRY at PATH now (None removes it); the caller checked it is safe."""
        check_path(path)
        self._check_parents(path)
        full = self.root / path
        self.own_write(path, entry)
        if entry is None:
            with contextlib.suppress(FileNotFoundError):
                full.unlink()
            self._prune_dirs(full.parent)
        else:
            self._write(full, entry)

    def _check_parents(self, path: str) -> None:
        parent = (self.root / path).parent
        while parent != self.root:
            if parent.is_symlink():
                raise UnsafePathError(f"refusing to write {path}: {parent.name} is a symlink",
                                      path=path)
            parent = parent.parent

    def _prune_dirs(self, d: Path) -> None:
        while d != self.root and d.is_dir():
            try:
                d.rmdir()
            except OSError:
                return
            d = d.parent

    def _write(self, full: Path, entry: Entry, still_safe: Callable[[], bool] | None = None
               ) -> bool:
        data = self.repo.blob(entry.oid)
        try:
            st: os.stat_result | None = os.lstat(full)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            # A folder where a file must go: only an empty one is ever replaced.
            full.rmdir()
            st = None
        if st is None:  # a file already there says its folder is there too
            full.parent.mkdir(parents=True, exist_ok=True)
        if entry.mode == MODE_LINK:
            tmp = full.with_name(f".gitsync-tmp-{os.getpid()}-{full.name}")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(os.fsdecode(data), tmp)
            if still_safe is not None and not still_safe():
                tmp.unlink()
                return False
            os.replace(tmp, full)
            return True
        perm = stat.S_IMODE(st.st_mode) & 0o666 if st is not None else 0o666 & ~umask()
        if entry.mode == MODE_EXEC:
            perm |= (perm & 0o444) >> 2
        # In a batch the caller flushes the filesystem once (syncfs) before the branch moves.
        return atomic_write(full, data, perm=perm, durable=not self._batch,
                            still_safe=still_safe)
