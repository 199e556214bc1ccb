"""Safe working-tree updates (gitsync.worktree): path checks, editor locks, dirty files.

Commits are made with the git CLI in a real repository; the disk is put at the old commit
with ``git reset --hard`` and the updater moves it to the new one. Hostile trees are written
as raw tree bytes, since git itself refuses to build them.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from gitsync.repo import Entry, Repo
from gitsync.worktree import (
    PARALLEL_MIN,
    UnsafePathError,
    WorktreeUpdater,
    check_path,
    lock_files_for,
)
from tests.helpers import git


# ---------------------------------------------------------------------------- check_path
@pytest.mark.parametrize("path", [
    "a", "notes.txt", "dir/sub/file.md", ".gitignore", ".gitsync/conflicts/x.json",
    "docs/.github/x", "gitx/y", "git~2/x", "my.git/x", "~$report.docx", "a b/c d.txt",
    "…/x",
])
def test_check_path_accepts_ordinary_paths(path: str) -> None:
    check_path(path)


@pytest.mark.parametrize("path", [
    "", "/etc/passwd", "../x", "a/../../x", "a/..", "./x", "a/./b", "a//b", "a/",
    ".git", ".git/config", ".GIT/config", ".Git/hooks/pre-commit", "sub/.git/config",
    "git~1/x", "GIT~1/config", "sub/Git~1", ".git./config", ".git /config", ".git. ./x",
    "a\\b", "..\\x", "a\0b",
])
def test_check_path_refuses_escaping_and_git_aliasing_paths(path: str) -> None:
    with pytest.raises(UnsafePathError) as info:
        check_path(path)
    assert info.value.path == path
    assert info.value.exit_code == 3
    assert "nothing was written" in str(info.value)


# ---------------------------------------------------------------------------- lock files
@pytest.mark.parametrize(("name", "lock"), [
    ("notes.txt", ".~lock.notes.txt#"),
    ("report.docx", "~$report.docx"),
    ("report.docx", "~$eport.docx"),  # Word drops the first one or two characters
    ("report.docx", "~$port.docx"),
    ("budget.xlsx", "~$budget.xlsx"),
])
def test_lock_files_are_found_beside_the_file(tmp_path: Path, name: str, lock: str) -> None:
    (tmp_path / name).write_text("x")
    assert lock_files_for(tmp_path / name) == []
    (tmp_path / lock).write_text("owner")
    assert lock_files_for(tmp_path / name) == [tmp_path / lock]


def test_other_files_locks_do_not_count(tmp_path: Path) -> None:
    (tmp_path / ".~lock.other.txt#").write_text("x")
    (tmp_path / "~$other.docx").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "~$report.docx").write_text("x")  # another folder
    assert lock_files_for(tmp_path / "report.docx") == []
    assert lock_files_for(tmp_path / "ab") == []  # too short to be shortened


# ---------------------------------------------------------------------------- builders
class Folder:
    """A repository whose commits are made with the git CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        git(root, "init", "-q", "-b", "main")

    def commit(self, files: dict[str, str | bytes | None], *, modes: dict[str, int] | None = None
               ) -> str:
        """Apply FILES (None deletes) on disk and commit everything."""
        for name, data in files.items():
            p = self.root / name
            if data is None:
                p.unlink()
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, str):
                data = data.encode()
            p.write_bytes(data)
        for name, mode in (modes or {}).items():
            (self.root / name).chmod(mode)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", "c")
        return git(self.root, "rev-parse", "HEAD").strip()

    def reset(self, commit: str) -> None:
        git(self.root, "reset", "-q", "--hard", commit)

    def hostile(self, parent: str, path: str) -> str:
        """A commit on PARENT whose root tree also holds PATH and a harmless file."""
        def obj(kind: str, data: bytes) -> str:
            r = subprocess.run(["git", "hash-object", "-t", kind, "--literally", "-w",
                                "--stdin"], cwd=self.root, input=data, capture_output=True,
                               check=True)
            return r.stdout.decode().strip()

        def tree(entries: list[tuple[str, str, str]]) -> str:
            entries.sort(key=lambda e: e[1].encode() + (b"/" if e[0] == "40000" else b""))
            return obj("tree", b"".join(f"{m} {n}".encode() + b"\0" + bytes.fromhex(o)
                                        for m, n, o in entries))

        oid, mode = obj("blob", b"owned\n"), "100644"
        first, *rest = path.split("/")
        for comp in reversed(rest):
            oid, mode = tree([(mode, comp, oid)]), "40000"
        entries = [(mode, first, oid), ("100644", "zz-innocent.txt", obj("blob", b"ok\n"))]
        for line in git(self.root, "ls-tree", parent).splitlines():
            meta, name = line.split("\t", 1)
            m, _k, o = meta.split()
            entries.append(("40000" if m == "040000" else m, name, o))
        return git(self.root, "commit-tree", tree(entries), "-p", parent, "-m", "x").strip()


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path / "f")


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] == ".git" or p.is_dir():
            continue
        st = p.lstat()
        data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        out[rel.as_posix()] = (stat.S_IMODE(st.st_mode), data)
    return out


# ---------------------------------------------------------------------------- apply
def test_apply_writes_removes_and_prunes(folder: Folder) -> None:
    old = folder.commit({"keep.txt": "k\n", "edit.txt": "v1\n", "old/deep/gone.txt": "g\n"})
    new = folder.commit({"edit.txt": "v2\n", "old/deep/gone.txt": None,
                         "new/dir/added.txt": "a\n"})
    folder.reset(old)
    seen: list[tuple[str, Entry | None]] = []
    up = WorktreeUpdater(Repo(folder.root), own_write=lambda p, e: seen.append((p, e)))
    res = up.apply(old, new)
    assert res.dirty == [] and res.waiting == {}
    assert sorted(res.written) == ["edit.txt", "new/dir/added.txt"]
    assert res.removed == ["old/deep/gone.txt"]
    assert (folder.root / "edit.txt").read_text() == "v2\n"
    assert (folder.root / "new" / "dir" / "added.txt").read_text() == "a\n"
    assert not (folder.root / "old").exists()  # emptied folders go too
    assert (folder.root / "keep.txt").read_text() == "k\n"
    # the owner was told about each write before it happened (the watcher skips them)
    assert sorted(p for p, _ in seen) == ["edit.txt", "new/dir/added.txt", "old/deep/gone.txt"]
    assert dict(seen)["old/deep/gone.txt"] is None
    assert [p.name for p in folder.root.iterdir() if p.name.startswith(".gitsync-tmp")] == []
    git(folder.root, "reset", "-q", new)
    assert git(folder.root, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_file_the_user_changed_makes_the_update_stop_before_any_write(folder: Folder
                                                                       ) -> None:
    old = folder.commit({"a.txt": "a1\n", "b.txt": "b1\n"})
    new = folder.commit({"a.txt": "a2\n", "b.txt": "b2\n", "c.txt": "c\n"})
    folder.reset(old)
    (folder.root / "b.txt").write_text("the user's save\n")
    before = snapshot(folder.root)
    up = WorktreeUpdater(Repo(folder.root))
    assert up.dirty_paths(up.plan(old, new)) == ["b.txt"]
    res = up.apply(old, new)
    assert res.dirty == ["b.txt"]
    assert res.written == [] and res.removed == []
    assert snapshot(folder.root) == before


def test_a_save_landing_while_the_new_content_is_synced_is_not_replaced(
        folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    # The update checks the file, then writes and fsyncs the new content beside it (which
    # can take a while on a busy disk), then renames it over. A save in between must win.
    old = folder.commit({"a.txt": "a1\n"})
    new = folder.commit({"a.txt": "a2\n"})
    folder.reset(old)
    real_fsync = os.fsync
    saved = []

    def fsync_while_the_user_saves(fd: int) -> None:
        real_fsync(fd)
        if not saved:
            saved.append(True)
            (folder.root / "a.txt").write_text("the user's save\n")

    monkeypatch.setattr(os, "fsync", fsync_while_the_user_saves)
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert saved and res.written == [] and res.dirty == ["a.txt"]
    assert (folder.root / "a.txt").read_text() == "the user's save\n"
    assert [p.name for p in folder.root.iterdir() if p.name.startswith(".gitsync-tmp")] == []


@pytest.mark.parametrize("case", ["deleted-by-user", "created-by-user"])
def test_user_deletions_and_creations_are_dirty_too(folder: Folder, case: str) -> None:
    old = folder.commit({"a.txt": "a1\n"})
    new = folder.commit({"a.txt": "a2\n", "b.txt": "theirs\n"})
    folder.reset(old)
    if case == "deleted-by-user":
        (folder.root / "a.txt").unlink()
        want = ["a.txt"]
    else:
        (folder.root / "b.txt").write_text("mine\n")
        want = ["b.txt"]
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert res.dirty == want and res.written == []
    assert not (folder.root / "a.txt").exists() or \
        (folder.root / "a.txt").read_text() == "a1\n"


def test_only_limits_the_update(folder: Folder) -> None:
    old = folder.commit({"a.txt": "a1\n", "b.txt": "b1\n"})
    new = folder.commit({"a.txt": "a2\n", "b.txt": "b2\n"})
    folder.reset(old)
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new, only={"b.txt"})
    assert res.written == ["b.txt"]
    assert (folder.root / "a.txt").read_text() == "a1\n"


def test_a_large_update_is_written_completely(folder: Folder) -> None:
    old = folder.commit({"keep.txt": "k\n"})
    files: dict[str, str | bytes | None] = {f"d{i % 5}/f{i}.txt": f"{i}\n" * i
                                            for i in range(60)}
    new = folder.commit(files, modes={"d0/f0.txt": 0o755})
    folder.reset(old)
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert sorted(res.written) == sorted(files)
    for name, data in files.items():
        assert (folder.root / name).read_text() == data
    assert (folder.root / "d0" / "f0.txt").stat().st_mode & 0o100
    assert not [p for p in folder.root.rglob(".gitsync-tmp*")]


def test_a_locked_file_waits_and_the_rest_is_written(folder: Folder) -> None:
    old = folder.commit({"report.docx": b"v1", "other.txt": "o1\n"})
    new = folder.commit({"report.docx": b"v2", "other.txt": "o2\n"})
    folder.reset(old)
    (folder.root / "~$report.docx").write_text("owner")
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert list(res.waiting) == ["report.docx"]
    assert "~$report.docx" in res.waiting["report.docx"]
    assert res.written == ["other.txt"]
    assert (folder.root / "report.docx").read_bytes() == b"v1"
    assert (folder.root / "other.txt").read_text() == "o2\n"


def test_a_locked_file_is_not_deleted_either(folder: Folder) -> None:
    old = folder.commit({"notes.txt": "n\n", "k.txt": "k\n"})
    new = folder.commit({"notes.txt": None})
    folder.reset(old)
    (folder.root / ".~lock.notes.txt#").write_text("x")
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert "notes.txt" in res.waiting and res.removed == []
    assert (folder.root / "notes.txt").read_text() == "n\n"


def test_modes_are_kept_and_set(folder: Folder) -> None:
    old = folder.commit({"run.sh": "echo 1\n", "private.txt": "p1\n"},
                        modes={"private.txt": 0o600})
    new = folder.commit({"run.sh": "echo 2\n", "private.txt": "p2\n"},
                        modes={"run.sh": 0o755})
    folder.reset(old)
    (folder.root / "private.txt").chmod(0o600)
    WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert stat.S_IMODE((folder.root / "private.txt").stat().st_mode) == 0o600
    assert (folder.root / "private.txt").read_text() == "p2\n"
    mode = stat.S_IMODE((folder.root / "run.sh").stat().st_mode)
    assert mode & 0o100 and (folder.root / "run.sh").read_text() == "echo 2\n"


def test_symlinks_are_written_as_links(folder: Folder) -> None:
    old = folder.commit({"target.txt": "t\n"})
    os.symlink("target.txt", folder.root / "link")
    new = folder.commit({})
    folder.reset(old)
    assert not (folder.root / "link").exists()
    WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert (folder.root / "link").is_symlink()
    assert os.readlink(folder.root / "link") == "target.txt"


def test_a_file_becomes_a_folder(folder: Folder) -> None:
    old = folder.commit({"a": "file\n"})
    new = folder.commit({"a": None, "a/b.txt": "inside\n"})
    folder.reset(old)
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert res.removed == ["a"] and res.written == ["a/b.txt"]
    assert (folder.root / "a" / "b.txt").read_text() == "inside\n"


# ---------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("path", ["../escaped.txt", ".GIT/config", "git~1/config",
                                  ".git/hooks/post-checkout", "sub/../../escaped.txt",
                                  ".git./config"])
def test_hostile_incoming_paths_write_nothing(folder: Folder, tmp_path: Path, path: str
                                              ) -> None:
    old = folder.commit({"notes.txt": "n\n"})
    new = folder.hostile(old, path)
    before = snapshot(folder.root)
    config = (folder.root / ".git" / "config").read_bytes()
    with pytest.raises(UnsafePathError) as info:
        WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert info.value.path == path
    assert path in str(info.value) and "refusing" in str(info.value)
    assert snapshot(folder.root) == before  # not even the harmless file
    assert (folder.root / ".git" / "config").read_bytes() == config
    assert not (folder.root / ".git" / "hooks" / "post-checkout").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_a_symlinked_folder_is_not_written_through(folder: Folder, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    old = folder.commit({"notes.txt": "n\n"})
    new = folder.commit({"sub/x.txt": "x\n", "a.txt": "a\n"})
    folder.reset(old)
    os.symlink(outside, folder.root / "sub")
    with pytest.raises(UnsafePathError) as info:
        WorktreeUpdater(Repo(folder.root)).apply(old, new)
    assert info.value.path == "sub/x.txt"
    assert list(outside.iterdir()) == []
    assert not (folder.root / "a.txt").exists()


def test_write_one_checks_the_path(folder: Folder) -> None:
    folder.commit({"notes.txt": "n\n"})
    repo = Repo(folder.root)
    entry = repo.entry_for_bytes(b"x", "x.txt")
    with pytest.raises(UnsafePathError):
        WorktreeUpdater(repo).write_one("../x.txt", entry)
    assert not (folder.root.parent / "x.txt").exists()
    WorktreeUpdater(repo).write_one("d/x.txt", entry)
    assert (folder.root / "d" / "x.txt").read_bytes() == b"x"
    WorktreeUpdater(repo).write_one("d/x.txt", None)
    assert not (folder.root / "d").exists()


def test_before_writes_runs_once_before_the_first_write(folder: Folder) -> None:
    old = folder.commit({"a.txt": "a1\n", "b.txt": "b1\n"})
    new = folder.commit({"a.txt": "a2\n", "b.txt": "b2\n"})
    folder.reset(old)
    events: list[str] = []
    up = WorktreeUpdater(Repo(folder.root), own_write=lambda p, _e: events.append(p))
    res = up.apply(old, new, before_writes=lambda: events.append("before"))
    assert events == ["before", "a.txt", "b.txt"]
    assert sorted(res.written) == ["a.txt", "b.txt"]


def test_before_writes_is_not_called_when_a_save_stops_the_update(folder: Folder) -> None:
    old = folder.commit({"a.txt": "a1\n", "b.txt": "b1\n"})
    new = folder.commit({"a.txt": "a2\n", "b.txt": "b2\n"})
    folder.reset(old)
    (folder.root / "b.txt").write_text("the user's save\n")
    called: list[bool] = []
    res = WorktreeUpdater(Repo(folder.root)).apply(old, new,
                                                   before_writes=lambda: called.append(True))
    assert res.dirty == ["b.txt"] and called == []


def test_a_large_update_checks_each_file_right_before_replacing_it(folder: Folder) -> None:
    """Big updates write several files at a time (WRITERS); each file is still checked
    right before its own replace: a save made while the others are written stays, an open
    document waits, a removal and a folder that becomes a file go first."""
    names = [f"d{i % 5}/f{i:02d}.txt" for i in range(PARALLEL_MIN * 3)]
    old = folder.commit({**{n: "old\n" for n in names}, "gone/x.txt": "x\n",
                         "was-a-folder/y.txt": "y\n"})
    new = folder.commit({**{n: f"new {n}\n" for n in names}, "gone/x.txt": None,
                         "was-a-folder/y.txt": None})
    (folder.root / "was-a-folder").rmdir()
    new = folder.commit({"was-a-folder": "now a file\n"})
    folder.reset(old)
    last = sorted(names)[-1]
    (folder.root / "d1" / "~$f01.txt").write_text("lock")  # d1/f01.txt is open
    writes: list[str] = []

    def save_the_last(path: str, _entry: Entry | None) -> None:
        writes.append(path)
        if len(writes) == 1:  # the first removal: no write has started yet
            (folder.root / last).write_text("saved meanwhile\n")

    res = WorktreeUpdater(Repo(folder.root), own_write=save_the_last).apply(old, new)
    assert res.dirty == [last]
    assert (folder.root / last).read_text() == "saved meanwhile\n"
    assert res.waiting == {"d1/f01.txt": "open in an editor (~$f01.txt)"}
    assert (folder.root / "d1" / "f01.txt").read_text() == "old\n"
    assert res.removed == ["gone/x.txt", "was-a-folder/y.txt"]
    assert writes[:2] == ["gone/x.txt", "was-a-folder/y.txt"]  # removals come first
    expected = sorted({*names, "was-a-folder"} - {last, "d1/f01.txt"})
    assert res.written == expected  # in path order, whichever thread wrote them
    for n in expected:
        want = "now a file\n" if n == "was-a-folder" else f"new {n}\n"
        assert (folder.root / n).read_text() == want
    assert not (folder.root / "gone").exists()
    assert not [p for p in folder.root.rglob(".gitsync-tmp*")]
