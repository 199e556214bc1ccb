"""A folder on a disk that fills up: the worker keeps running, says why, and commits and
pushes what waited once space is back (found by the crash suite's disk-full scenario, where
a failed write of the tracking ref stopped the folder's worker for good)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitsync.config import Paths, load_config
from gitsync.events import EventBus
from gitsync.worker import LOCAL_RETRY_S, FolderWorker
from tests.helpers import git, init_folder

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 4096)


def rev(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", ref).strip()


def test_a_full_disk_stops_neither_the_commit_nor_the_round_for_good(
        small_disk: Path) -> None:
    d = small_disk / "Docs"
    hub = init_folder(d, {"notes.txt": "v1\n"})
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(d)]
    clock = FakeClock()
    w = FolderWorker(fc, config.effective(fc), paths, EventBus(), clock=clock, watch=False)
    assert w.open()
    filler = small_disk / "filler"
    try:
        w.run_pending()
        # A commit the hub does not have yet (it is away), then the disk fills up.
        away = hub.with_name("away.git")
        hub.rename(away)
        (d / "notes.txt").write_text("v2\n")
        w._on_fs_event("notes.txt", False)
        clock.now += 1.1
        w.run_pending()
        assert w.state.offline_since is not None
        fill(filler)
        away.rename(hub)
        clock.now = w._next_sync_try
        # The push reaches the hub, but the tracking ref cannot be written here.
        w.run_pending()
        assert w.state.last_error and "No space left" in w.state.last_error
        (d / "notes.txt").write_text("v3\n")  # rewritten in place: no new block needed
        w._on_fs_event("notes.txt", False)
        clock.now += 1.1
        w.run_pending()  # cannot be committed while the disk is full: held, not dropped
        assert git(d, "show", "HEAD:notes.txt") == "v2\n"
        # Named for what it is: the file is fine, the disk is not.
        assert w.state.retrying["notes.txt"].startswith("disk-full")
        filler.unlink()
        for _ in range(5):
            clock.now += LOCAL_RETRY_S + 1
            w.run_pending()
        assert git(d, "show", "HEAD:notes.txt") == "v3\n"
        assert rev(hub, "main") == rev(d, "HEAD") == rev(d, "refs/remotes/origin/main")
        assert git(d, "status", "--porcelain") == ""
        fsck = subprocess.run(["git", "-C", str(d), "fsck", "--full", "--strict"],
                              capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    finally:
        w.close()


def test_an_index_write_that_fails_on_a_full_disk_is_kept_for_the_next_flush(
        small_disk: Path) -> None:
    from gitsync.committer import Committer
    from gitsync.errors import RepoError
    from gitsync.ignore import IgnoreRules
    from gitsync.repo import Repo

    d = small_disk / "Docs"
    init_folder(d, {"notes.txt": "v1\n"})
    repo = Repo(d)
    committer = Committer(repo, "laptop", size_limit=10**9, ignore=IgnoreRules([]))
    (d / "notes.txt").write_text("v2\n")
    assert committer.commit(["notes.txt"], defer_index=True).commit is not None
    filler = small_disk / "filler"
    fill(filler)
    with pytest.raises(RepoError, match="No space left"):
        repo.flush_index()
    staged = git(d, "ls-files", "-s", "notes.txt").split()[1]
    assert staged != rev(d, "HEAD:notes.txt")  # the index still has v1
    filler.unlink()
    repo.flush_index()
    assert git(d, "status", "--porcelain") == ""
