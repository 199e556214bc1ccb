"""The folder watch on real inotify: reads queue nothing, changes are all seen, ``.git`` is
never watched, folders moved in and out keep the watches right, and an overflow rescans.

Each "nothing happened" check ends with a sentinel write: one inotify descriptor delivers
its events in order, so once the sentinel's event arrived, any event caused earlier would
have arrived before it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitsync.watcher import FolderWatcher
from tests.helpers import git, wait_for


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, bool]] = []
        self.overflows = 0
        self.lock = threading.Lock()
        self.hook: Callable[[str], None] | None = None

    def change(self, rel: str, gone: bool) -> None:
        if self.hook:
            self.hook(rel)
        with self.lock:
            self.events.append((rel, gone))

    def overflow(self) -> None:
        self.overflows += 1

    def take(self) -> list[tuple[str, bool]]:
        with self.lock:
            out, self.events = self.events, []
        return out

    def seen(self, rel: str, gone: bool = False) -> bool:
        with self.lock:
            return (rel, gone) in self.events

    def until_sentinel(self, folder: Path, name: str = "sentinel.txt") -> list[tuple[str, bool]]:
        """Everything reported before a fresh write of NAME was seen (NAME's own excluded)."""
        (folder / name).write_text(str(os.urandom(4)))
        assert wait_for(lambda: self.seen(name), 10)
        return [e for e in self.take() if e[0] != name]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    for i in range(3):
        sub = d / f"dir{i}" / "deeper"
        sub.mkdir(parents=True)
        (sub / f"note{i}.txt").write_text(f"needle {i}\n")
        (d / f"dir{i}" / "top.txt").write_text("top\n")
    (d / "readme.md").write_text("hello needle\n")
    git(d, "init", "-q", "-b", "main")
    git(d, "add", "-A")
    git(d, "commit", "-q", "-m", "first")
    nested = d / "vendor" / "lib"  # a nested repository: its .git is not watched either
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    return d


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def watcher(folder: Path, rec: Recorder) -> Iterator[FolderWatcher]:
    w = FolderWatcher(folder, rec.change, rec.overflow)
    w.start()
    yield w
    w.stop()


def watched_inodes(w: FolderWatcher) -> list[int]:
    """The inode of each watch, as the kernel lists them for the watcher's descriptor."""
    assert w._inotify is not None
    text = Path(f"/proc/self/fdinfo/{w._inotify._ino.fd}").read_text()
    return [int(m, 16) for m in re.findall(r"^inotify wd:\S+ ino:([0-9a-f]+)", text, re.M)]


def dir_inodes(root: Path) -> tuple[set[int], set[int]]:
    """(inodes of folders outside any .git, inodes of folders inside one, .git included)."""
    plain, in_git = {root.stat().st_ino}, set()
    for dirpath, dirs, _files in os.walk(root):
        for d in dirs:
            p = Path(dirpath) / d
            inside = ".git" in p.relative_to(root).parts
            (in_git if inside else plain).add(p.stat().st_ino)
    return plain, in_git


def test_nothing_inside_git_is_watched(folder: Path, watcher: FolderWatcher) -> None:
    plain, in_git = dir_inodes(folder)
    assert len(in_git) > 10  # objects/, refs/heads/, ... of two repositories
    kernel = watched_inodes(watcher)
    assert len(kernel) == len(set(kernel))
    assert set(kernel) == plain
    assert not set(kernel) & in_git
    listed = watcher.watched_dirs()
    assert listed is not None and len(listed) == len(plain)
    assert not [d for d in listed if ".git" in d.split("/")]
    assert {"", "dir0", "dir0/deeper", "vendor", "vendor/lib"} <= set(listed)


def test_reading_the_folder_reports_nothing(folder: Path, rec: Recorder,
                                            watcher: FolderWatcher) -> None:
    files = [p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts]
    for p in files:
        with open(p, "rb") as fh:
            fh.read()
        os.stat(p)
    for _root, _dirs, _names in os.walk(folder):
        pass
    with os.scandir(folder) as it:
        for entry in it:
            entry.stat()
    subprocess.run(["grep", "-r", "needle", str(folder)], check=True, capture_output=True)
    subprocess.run(["cat", *map(str, files)], check=True, capture_output=True)
    subprocess.run(["ls", "-lR", str(folder)], check=True, capture_output=True)
    assert rec.until_sentinel(folder) == []


def test_git_commands_in_the_folder_report_nothing(folder: Path, rec: Recorder,
                                                   watcher: FolderWatcher) -> None:
    """git writes only inside .git here (objects, index, refs): none of it reaches us."""
    git(folder, "status", "--porcelain")
    git(folder, "log", "--oneline")
    git(folder, "commit", "-q", "--allow-empty", "-m", "a user's own commit")
    git(folder, "gc", "-q")
    git(folder, "update-index", "--refresh")
    assert rec.until_sentinel(folder) == []


def test_every_kind_of_change_is_reported(folder: Path, rec: Recorder,
                                          watcher: FolderWatcher) -> None:
    (folder / "new.txt").write_text("new\n")
    assert wait_for(lambda: rec.seen("new.txt"), 10)
    with open(folder / "dir0" / "top.txt", "a") as fh:
        fh.write("appended\n")
    assert wait_for(lambda: rec.seen("dir0/top.txt"), 10)
    os.rename(folder / "readme.md", folder / "dir1" / "README.md")
    assert wait_for(lambda: rec.seen("readme.md", True) and rec.seen("dir1/README.md"), 10)
    os.unlink(folder / "dir2" / "top.txt")
    assert wait_for(lambda: rec.seen("dir2/top.txt", True), 10)
    rec.take()
    os.chmod(folder / "dir0" / "deeper" / "note0.txt", 0o755)
    assert wait_for(lambda: rec.seen("dir0/deeper/note0.txt"), 10)
    rec.take()
    os.utime(folder / "dir1" / "top.txt", (1, 1))
    assert wait_for(lambda: rec.seen("dir1/top.txt"), 10)
    shutil.rmtree(folder / "dir2")
    assert wait_for(lambda: rec.seen("dir2", True), 10)
    assert "dir2/deeper" not in (watcher.watched_dirs() or [])


def test_a_file_kept_open_is_reported_while_it_is_written(folder: Path, rec: Recorder,
                                                         watcher: FolderWatcher) -> None:
    """IN_MODIFY is kept: a writer holding its file open is still seen writing."""
    with open(folder / "log.txt", "w") as fh:
        assert wait_for(lambda: rec.seen("log.txt"), 10)  # created
        rec.take()
        fh.write("line\n")
        fh.flush()
        assert wait_for(lambda: rec.seen("log.txt"), 10)


def test_new_folders_are_watched_with_what_they_hold(folder: Path, rec: Recorder,
                                                     watcher: FolderWatcher) -> None:
    deep = folder / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "early.txt").write_text("x")  # may come before the watch: the folder is reported
    assert wait_for(lambda: rec.seen("a"), 10)
    assert wait_for(lambda: "a/b/c" in (watcher.watched_dirs() or []), 10)
    (deep / "late.txt").write_text("y")
    assert wait_for(lambda: rec.seen("a/b/c/late.txt"), 10)


def test_a_folder_moved_in_is_watched(folder: Path, tmp_path: Path, rec: Recorder,
                                      watcher: FolderWatcher) -> None:
    outside = tmp_path / "Downloads" / "album"
    (outside / "disc1").mkdir(parents=True)
    (outside / "disc1" / "track.txt").write_text("t")
    os.rename(outside, folder / "album")
    assert wait_for(lambda: rec.seen("album"), 10)
    assert wait_for(lambda: "album/disc1" in (watcher.watched_dirs() or []), 10)
    (folder / "album" / "disc1" / "track2.txt").write_text("t2")
    assert wait_for(lambda: rec.seen("album/disc1/track2.txt"), 10)


def test_a_folder_renamed_inside_keeps_its_watches_under_the_new_name(
        folder: Path, rec: Recorder, watcher: FolderWatcher) -> None:
    os.rename(folder / "dir0", folder / "renamed")
    assert wait_for(lambda: rec.seen("dir0", True) and rec.seen("renamed"), 10)
    (folder / "renamed" / "deeper" / "after.txt").write_text("z")
    assert wait_for(lambda: rec.seen("renamed/deeper/after.txt"), 10)
    listed = watcher.watched_dirs() or []
    assert "renamed/deeper" in listed and "dir0" not in listed and "dir0/deeper" not in listed


def test_a_folder_moved_out_is_no_longer_watched(folder: Path, tmp_path: Path, rec: Recorder,
                                                 watcher: FolderWatcher) -> None:
    before = len(watched_inodes(watcher))
    os.rename(folder / "dir1", tmp_path / "elsewhere")
    assert wait_for(lambda: rec.seen("dir1", True), 10)
    rec.until_sentinel(folder)
    (tmp_path / "elsewhere" / "deeper" / "outside.txt").write_text("not ours")
    assert rec.until_sentinel(folder) == []
    assert len(watched_inodes(watcher)) == before - 2
    assert not [d for d in watcher.watched_dirs() or [] if d.startswith("dir1")]


def test_a_folder_renamed_to_git_is_dropped_and_reported_gone(
        folder: Path, rec: Recorder, watcher: FolderWatcher) -> None:
    os.rename(folder / "dir2", folder / "vendor" / ".git-old")
    assert wait_for(lambda: rec.seen("vendor/.git-old"), 10)
    os.rename(folder / "vendor" / ".git-old", folder / "dir0" / ".git")
    assert wait_for(lambda: rec.seen("vendor/.git-old", True), 10)
    rec.until_sentinel(folder)
    assert not [d for d in watcher.watched_dirs() or [] if ".git" in d.split("/")]
    (folder / "dir0" / ".git" / "top.txt").write_text("inside a .git now")
    assert rec.until_sentinel(folder) == []


def test_an_overflow_rescans_and_watches_folders_made_meanwhile(
        folder: Path, rec: Recorder, watcher: FolderWatcher,
        caplog: pytest.LogCaptureFixture) -> None:
    """The reader is held inside a callback while far more events than the kernel's queue
    holds (fs.inotify.max_queued_events) are made; the folder made meanwhile lost its
    event with the rest."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    release, held = threading.Event(), threading.Event()

    def hold(rel: str) -> None:
        if rel == "hold.txt" and not release.is_set():
            held.set()
            release.wait(60)

    rec.hook = hold
    (folder / "hold.txt").write_text("x")
    assert held.wait(10)
    a, b = folder / "dir0" / "top.txt", folder / "dir1" / "top.txt"
    for i in range(limit + 1000):  # alternating, so the kernel cannot merge them
        os.utime(a if i % 2 else b, (i, i))
    (folder / "made-meanwhile").mkdir()
    release.set()
    assert wait_for(lambda: rec.overflows == 1, 20)
    assert watcher.overflows == 1
    assert "made-meanwhile" in (watcher.watched_dirs() or [])
    assert any("overflowed" in r.getMessage() for r in caplog.records)
    (folder / "made-meanwhile" / "x.txt").write_text("seen")
    assert wait_for(lambda: rec.seen("made-meanwhile/x.txt"), 10)


def test_stop_ends_the_thread_and_the_descriptor(folder: Path, rec: Recorder) -> None:
    w = FolderWatcher(folder, rec.change, rec.overflow)
    w.start()
    assert w._inotify is not None
    fd = w._inotify._ino.fd
    names = {t.name for t in threading.enumerate()}
    assert f"watch:{folder.name}" in names
    w.stop()
    assert f"watch:{folder.name}" not in {t.name for t in threading.enumerate()}
    assert not Path(f"/proc/self/fdinfo/{fd}").exists() or "inotify" not in \
        Path(f"/proc/self/fdinfo/{fd}").read_text()
    w.stop()  # twice is harmless
