"""Staging many files at once straight into one pack (a first snapshot, a folder copied in).

``git add`` and libgit2 write one loose object per file: a 100,000-file folder becomes
100,000 files under ``.git/objects`` (four times the data on disk) that git must later pack.
Here gitsync reads each file itself and streams it to ``git fast-import``, which writes
blobs, trees and a scratch commit into a single pack on the other core, in one pass. The
caller gets each staged path's blob id and the ``lstat`` taken before it was read, so the
index can carry real stat data (``git status`` then trusts it instead of re-hashing).

Files are stored as they are on disk: no clean filters, no line-ending conversion. Callers
use this only when nothing in the repository could ask for a conversion (see
:func:`content_filters_possible`), and fall back to ``git add`` otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitsync.errors import RepoError
from gitsync.fsutil import fsync_path
from gitsync.gitproc import run_git

MODE_BLOB = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000

_SCRATCH_REF = b"refs/gitsync/bulk-stage"
_NEEDS_QUOTING = re.compile(rb'["\\\x00-\x1f\x7f]')
_WRITE_CHUNK = 1 << 20


@dataclass(frozen=True)
class Staged:
    path: str
    oid: bytes  # raw 20-byte blob id
    mode: int
    st: os.stat_result  # lstat before the read; equal to the fstat after it


@dataclass
class BulkResult:
    commit: str  # scratch commit: its tree is HEAD's with every staged change applied
    staged: list[Staged] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    held: list[tuple[str, str, str]] = field(default_factory=list)  # (path, status, detail)
    new_pack_files: list[Path] = field(default_factory=list)


def content_filters_possible(workdir: Path, gitdir: Path, paths: Iterable[str],
                             config: Callable[[str], str | None]) -> bool:
    """Whether git could store some of PATHS differently from their bytes on disk.

    True when any attributes file could apply (``.gitattributes`` in a folder on the way to
    a path, ``info/attributes``, a global one) or the config converts line endings or does
    not trust the file system's modes and links.
    """
    if (config("core.autocrlf") or "false").lower() not in ("false", "0", "no", "off"):
        return True
    for key in ("core.filemode", "core.symlinks"):
        if (config(key) or "true").lower() in ("false", "0", "no", "off"):
            return True
    if config("core.attributesfile"):
        return True
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    if os.path.exists(os.path.join(xdg, "git", "attributes")):
        return True
    if (gitdir / "info" / "attributes").exists():
        return True
    dirs: set[str] = set()
    for path in paths:
        if path.rsplit("/", 1)[-1] == ".gitattributes":
            return True
        parent = path.rpartition("/")[0]
        while parent not in dirs:
            dirs.add(parent)
            if not parent:
                break
            parent = parent.rpartition("/")[0]
    root = str(workdir)
    return any(os.path.lexists(os.path.join(root, d, ".gitattributes")) for d in dirs)


def stage_into_pack(
    workdir: Path,
    gitdir: Path,
    paths: list[str],
    *,
    head: str | None,
    tracked: Callable[[str], bool],
    size_limit: int,
    progress: Callable[[int, int], None] | None = None,
) -> BulkResult:
    """Write the blobs of PATHS, and the tree of HEAD with them applied, into one new pack.

    A path missing from disk is removed when TRACKED says the index has it; folders,
    sockets and fifos are skipped (git does not track them); too large, unreadable or
    changing files are held back. The new pack and its index are fsynced before this
    returns. Raises RepoError when fast-import fails.
    """
    pack_dir = gitdir / "objects" / "pack"
    before = set(os.listdir(pack_dir)) if pack_dir.is_dir() else set()
    result = BulkResult(commit="")
    total = len(paths)
    root = str(workdir)

    def stream() -> Iterator[bytes]:
        """fast-import's input, read from disk as git takes it (in ~1 MiB chunks)."""
        out = bytearray()
        for n, path in enumerate(paths, 1):
            if progress is not None and n % 500 == 0:
                progress(n, total)
            staged = _read_one(root, path, size_limit, result, tracked)
            if staged is None:
                continue
            data, item = staged
            result.staged.append(item)
            out += b"blob\nmark :%d\ndata %d\n" % (len(result.staged), len(data))
            if len(data) >= _WRITE_CHUNK:  # a big file goes to the pipe without a copy
                yield bytes(out)
                yield data
                out = bytearray(b"\n")
            else:
                out += data
                out += b"\n"
            if len(out) >= _WRITE_CHUNK:
                yield bytes(out)
                out = bytearray()
        out += b"commit %s\ncommitter gitsync <gitsync> 0 +0000\ndata 0\n" % _SCRATCH_REF
        if head is not None:
            out += b"from %s\n" % head.encode()
        # Deletions first: a folder that became a file (or the reverse) is emptied before
        # its new content is set.
        for path in result.removed:
            out += b"D %s\n" % fast_import_path(path)
        for mark, item in enumerate(result.staged, 1):
            out += b"M %o :%d %s\n" % (item.mode, mark, fast_import_path(item.path))
        out += b"\ndone\n"
        yield bytes(out)

    git = run_git(["-c", "fastimport.unpackLimit=0", "fast-import", "--quiet", "--done"],
                  cwd=workdir, input=stream())
    if not git.ok:
        raise RepoError(f"git fast-import failed in {workdir}: "
                        f"{git.stderr.strip() or git.returncode}",
                        hint="staging file by file instead")
    if progress is not None:
        progress(total, total)
    result.commit = _scratch_commit(gitdir, workdir)
    for name in sorted(set(os.listdir(pack_dir)) - before):
        if name.endswith((".pack", ".idx")):
            result.new_pack_files.append(pack_dir / name)
    for f in result.new_pack_files:
        fsync_path(f)
    if result.new_pack_files:
        fsync_path(pack_dir)
    return result


def _read_one(root: str, path: str, size_limit: int, result: BulkResult,
              tracked: Callable[[str], bool]) -> tuple[bytes, Staged] | None:
    full = os.path.join(root, path)
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        if tracked(path):
            result.removed.append(path)
        return None
    except OSError as e:
        result.held.append((path, "unreadable", e.strerror or str(e)))
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            data = os.fsencode(os.readlink(full))
            after = os.lstat(full)
        except OSError:
            result.held.append((path, "unstable", "changed while being read"))
            return None
        if (after.st_mtime_ns, after.st_ino) != (st.st_mtime_ns, st.st_ino):
            result.held.append((path, "unstable", "changed while being read"))
            return None
        return data, Staged(path, _blob_id(data), MODE_LINK, st)
    if not stat.S_ISREG(st.st_mode):
        # A file replaced by a folder leaves the index (its files are staged as paths of
        # their own); sockets and fifos are not tracked by git.
        if stat.S_ISDIR(st.st_mode) and tracked(path):
            result.removed.append(path)
        return None
    if st.st_size > size_limit:
        result.held.append((path, "too-large", f"{st.st_size} bytes > limit {size_limit}"))
        return None
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:
        result.held.append((path, "unreadable", "permission denied"))
        return None
    except OSError:
        result.held.append((path, "unstable", "replaced while being read"))
        return None
    try:
        chunks = [os.read(fd, st.st_size + 1)]
        got = len(chunks[0])
        while chunks[-1] and got <= st.st_size:  # a short read: the rest, and one byte more
            chunks.append(os.read(fd, st.st_size + 1 - got))
            got += len(chunks[-1])
        after = os.fstat(fd)
    except OSError as e:
        result.held.append((path, "unreadable", e.strerror or str(e)))
        return None
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if (len(data) != st.st_size or after.st_ino != st.st_ino
            or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns)):
        result.held.append((path, "unstable", "still being written"))
        return None
    mode = MODE_EXEC if st.st_mode & 0o100 else MODE_BLOB
    return data, Staged(path, _blob_id(data), mode, st)


def _blob_id(data: bytes) -> bytes:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.digest()


def fast_import_path(path: str) -> bytes:
    """PATH as a C-style quoted string, which fast-import accepts for any name."""
    raw = os.fsencode(path)
    if not _NEEDS_QUOTING.search(raw):
        return b'"' + raw + b'"'
    out = bytearray(b'"')
    for byte in raw:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


def _scratch_commit(gitdir: Path, workdir: Path) -> str:
    """fast-import's scratch commit, unreferenced again (its ref is deleted)."""
    ref_file = gitdir / _SCRATCH_REF.decode()
    try:
        commit = ref_file.read_text().strip()
    except FileNotFoundError as e:
        raise RepoError(f"git fast-import wrote no commit in {workdir}") from e
    finally:
        ref_file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            ref_file.parent.rmdir()  # only when no other ref lives there
    return commit
