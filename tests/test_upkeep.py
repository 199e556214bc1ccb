"""Upkeep of a folder's object store, with the real git CLI as the judge.

git decides whether ``gc --auto`` packs from the loose objects in ``objects/17`` alone, so
the tests place objects there on purpose (contents whose blob id starts with 17) and set a
low ``gc.auto`` (50: more than one object in ``objects/17``), to stay small and exact.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitsync.config import Paths, load_config
from gitsync.events import EventBus
from gitsync.upkeep import (
    HistorySize,
    Thresholds,
    Upkeep,
    busy_reason,
    count_versions,
    packing_due,
    read_thresholds,
    store_size,
)
from gitsync.worker import FolderWorker
from tests.helpers import commit_count, fsck_clean, git, init_folder, run_cli


def content_in_17(tag: str) -> bytes:
    """File content whose blob lands in ``objects/17``."""
    for n in itertools.count():
        data = f"{tag} {n}\n".encode()
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().startswith("17"):
            return data
    raise AssertionError("unreachable")


def loose_in_17(repo: Path) -> int:
    d = repo / ".git" / "objects" / "17"
    return len(os.listdir(d)) if d.is_dir() else 0


def count_objects(repo: Path) -> dict[str, int]:
    out = git(repo, "count-objects", "-v")
    return {k: int(v) for k, v in (line.split(": ") for line in out.splitlines())}


def every_object(repo: Path) -> list[str]:
    return sorted(line.split()[0] for line in
                  git(repo, "rev-list", "--all", "--objects").splitlines())


FIXED_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                  "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
                  "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"}


def fixed_commit(repo: Path, message: str) -> None:
    """A commit whose id does not depend on the clock or the machine: with the time in it,
    one commit in 256 landed in objects/17 and upset the counts the tests set up there."""
    subprocess.run(["git", "-c", "gc.auto=0", "commit", "-qm", message], cwd=repo, check=True,
                   env={**os.environ, **FIXED_IDENTITY}, capture_output=True)
    assert not git(repo, "rev-parse", "HEAD").startswith("17")


def make_repo(path: Path, *, in_17: int, commits: int = 3, gc_auto: int | None = 50) -> Path:
    """A repository with COMMITS commits (all loose), IN_17 of its blobs in objects/17."""
    git(path.parent, "init", "-q", str(path))
    for i in range(commits):
        for j in range(5):
            (path / f"file{j}.txt").write_text(f"commit {i} file {j}\n")
        git(path, "-c", "gc.auto=0", "add", "-A")
        fixed_commit(path, f"commit {i}")
    for k in range(in_17):
        (path / f"in17-{k}.txt").write_bytes(content_in_17(f"{path.name} {k}"))
    if in_17:
        git(path, "-c", "gc.auto=0", "add", "-A")
        fixed_commit(path, "objects in 17")
    if gc_auto is not None:
        git(path, "config", "gc.auto", str(gc_auto))
    return path


# ----------------------------------------------------------------------------- figures
def test_store_size_matches_git_count_objects(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", in_17=0, commits=4, gc_auto=None)
    git(repo, "repack", "-q")  # one pack with the first commits
    (repo / "more.txt").write_text("more\n")
    git(repo, "-c", "gc.auto=0", "add", "-A")
    git(repo, "-c", "gc.auto=0", "commit", "-qm", "loose again")
    size = store_size(repo / ".git")
    counted = count_objects(repo)
    assert size.loose_objects == counted["count"] > 0
    assert size.loose_bytes == counted["size"] * 1024  # both count allocated blocks
    assert size.packs == counted["packs"] == 1
    assert size.packed_objects == counted["in-pack"] > 0
    assert abs(size.pack_bytes - counted["size-pack"] * 1024) < 64 * 1024
    assert size.disk_bytes == size.loose_bytes + size.pack_bytes


def test_history_size_says_it_in_words() -> None:
    from gitsync.upkeep import StoreSize

    h = HistorySize(1234, StoreSize(loose_objects=120, loose_bytes=500_000, packs=3,
                                    packed_objects=9000, pack_bytes=44_600_000))
    assert h.describe() == "1,234 versions, 45.1 MB on disk (3 packs, 120 loose objects)"
    assert HistorySize(1, StoreSize(1, 4096, 1, 3, 0)).describe() == \
        "1 version, 4.1 kB on disk (1 pack, 1 loose object)"
    assert h.to_json()["disk_bytes"] == 45_100_000


@pytest.mark.parametrize("in_17", [1, 2])
def test_packing_is_due_exactly_when_git_gc_auto_packs(tmp_path: Path, in_17: int) -> None:
    repo = make_repo(tmp_path / "r", in_17=in_17)
    assert loose_in_17(repo) == in_17
    due = packing_due(repo / ".git", read_thresholds(repo))
    # git itself, on a copy: packs when more than ceil(50 / 256) = 1 object is in objects/17
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    git(copy, "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet")
    git_packed = count_objects(copy)["count"] < count_objects(repo)["count"]
    assert (due is not None) == git_packed == (in_17 == 2)
    if due:
        assert "loose objects (gc.auto is 50)" in due


def test_thresholds_are_read_from_every_config_git_reads(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", in_17=2, gc_auto=None)
    assert read_thresholds(repo) == Thresholds(6700, 50)
    assert packing_due(repo / ".git", read_thresholds(repo)) is None  # 2 * 256 < 6,700
    git(repo, "config", "--global", "gc.auto", "1k")
    git(repo, "config", "--global", "gc.autoPackLimit", "7")
    assert read_thresholds(repo) == Thresholds(1024, 7)
    git(repo, "config", "gc.auto", "50")  # the repository's own config wins
    assert read_thresholds(repo) == Thresholds(50, 7)
    git(repo, "config", "gc.auto", "0")
    assert packing_due(repo / ".git", read_thresholds(repo)) is None


def test_too_many_packs_are_packed_into_one(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", in_17=0, commits=1, gc_auto=None)
    for i in range(3):
        (repo / f"p{i}.txt").write_text(f"pack {i}\n")
        git(repo, "-c", "gc.auto=0", "add", "-A")
        git(repo, "-c", "gc.auto=0", "commit", "-qm", f"pack {i}")
        git(repo, "repack", "-q")
    git(repo, "config", "gc.autoPackLimit", "2")
    assert count_objects(repo)["packs"] == 3
    due = packing_due(repo / ".git", read_thresholds(repo))
    assert due == "3 packs (gc.autoPackLimit is 2)"
    # a pack kept with .keep is not counted, as git does not count it
    keep = next((repo / ".git/objects/pack").glob("*.pack")).with_suffix(".keep")
    keep.touch()
    assert packing_due(repo / ".git", read_thresholds(repo)) is None
    keep.unlink()
    objects = every_object(repo)
    result = Upkeep(repo, repo / ".git").run_once()
    assert result.ran and count_objects(repo)["packs"] == 1
    assert every_object(repo) == objects
    fsck_clean(repo)


# ----------------------------------------------------------------------------- packing
def test_packing_keeps_every_commit_and_object(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    repo = make_repo(tmp_path / "r", in_17=3, commits=5)
    objects, head = every_object(repo), git(repo, "rev-parse", "HEAD")
    commits = commit_count(repo)
    loose = count_objects(repo)["count"]
    assert loose == len(objects)
    with caplog.at_level(logging.INFO, logger="gitsync.upkeep"):
        result = Upkeep(repo, repo / ".git").run_once()
    assert result.ran and result.still_due is None
    assert count_objects(repo)["count"] == 0 and count_objects(repo)["in-pack"] == loose
    assert every_object(repo) == objects
    assert git(repo, "rev-parse", "HEAD") == head and commit_count(repo) == commits
    fsck_clean(repo)
    assert f"packed {loose:,} loose objects in " in caplog.text
    # the refs were left alone: no pack-refs, no reflog expiry (they lock refs the worker moves)
    assert (repo / ".git/refs/heads/main").is_file()
    assert not (repo / ".git/packed-refs").exists()
    # nothing left to do: the next look runs no gc
    assert Upkeep(repo, repo / ".git").run_once().ran is False


def test_young_unreachable_objects_are_kept(tmp_path: Path) -> None:
    """git's prune expiry holds: a loose object no commit reaches yet (a git command may be
    about to commit it) survives upkeep."""
    repo = make_repo(tmp_path / "r", in_17=2)
    orphans = [subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo,
                              input=content_in_17(f"orphan {i}"), capture_output=True,
                              check=True).stdout.decode().strip() for i in range(3)]
    result = Upkeep(repo, repo / ".git").run_once()
    assert result.ran
    for oid in orphans:
        assert (repo / ".git/objects" / oid[:2] / oid[2:]).is_file()
    # still due (three unreachable objects in objects/17), so the next look waits a day
    assert result.still_due is not None


# ----------------------------------------------------------------------------- locks
def hold_open(path: Path) -> subprocess.Popen[bytes]:
    """Another process that holds PATH open (as git holds its lock files) until killed."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                             "f = open(sys.argv[1], 'a')\nprint('ready', flush=True)\n"
                             "time.sleep(60)", str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.stdout.close()
    return proc


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose pid a test writes into gc.pid."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("lock", ["index.lock", "HEAD.lock", "refs/heads/main.lock"])
def test_no_packing_while_a_git_command_holds_a_lock(tmp_path: Path, lock: str) -> None:
    repo = make_repo(tmp_path / "r", in_17=2)
    loose = count_objects(repo)["count"]
    path = repo / ".git" / lock
    proc = hold_open(path)
    try:
        upkeep = Upkeep(repo, repo / ".git")
        result = upkeep.run_once()
        assert not result.ran and result.busy
        assert result.reason == f"{lock} is held by a running git command"
        assert count_objects(repo)["count"] == loose
    finally:
        proc.kill()
        proc.wait()
    path.unlink()
    assert upkeep.run_once().ran
    assert count_objects(repo)["count"] == 0


def test_no_packing_while_another_gc_runs(tmp_path: Path,
                                          holder: subprocess.Popen[bytes]) -> None:
    repo = make_repo(tmp_path / "r", in_17=2)
    pidfile = repo / ".git" / "gc.pid"
    pidfile.write_text(f"{holder.pid} {socket.gethostname()}")
    assert busy_reason(repo / ".git", repo) == f"git gc (pid {holder.pid}) is running"
    assert not Upkeep(repo, repo / ".git").run_once().ran
    holder.kill()
    holder.wait()
    assert busy_reason(repo / ".git", repo) is None  # its gc.pid is left over: git ignores it
    assert Upkeep(repo, repo / ".git").run_once().ran


def test_gc_auto_zero_turns_upkeep_off(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    repo = make_repo(tmp_path / "r", in_17=4, gc_auto=0)
    loose = count_objects(repo)["count"]
    upkeep = Upkeep(repo, repo / ".git")
    with caplog.at_level(logging.INFO, logger="gitsync.upkeep"):
        assert upkeep.run_once().ran is False
        assert upkeep.run_once().ran is False
    assert count_objects(repo)["count"] == loose
    assert caplog.text.count("automatic packing is off") == 1  # said once, not every look


# ----------------------------------------------------------------------------- versions
def test_versions_are_counted_as_git_counts_them_and_cached(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", in_17=0, commits=4, gc_auto=None)
    cache = tmp_path / "state" / "r.history"
    head = git(repo, "rev-parse", "HEAD").strip()
    assert count_versions(repo, head, cache) == commit_count(repo) == 4
    assert json.loads(cache.read_text()) == {"head": head, "versions": 4}
    assert count_versions(repo, None, cache) == 0  # no commit yet
    # new commits: the cached count is extended by the commits since, not recounted
    cache.write_text(json.dumps({"head": head, "versions": 1000}))
    for i in range(3):
        git(repo, "-c", "gc.auto=0", "commit", "-q", "--allow-empty", "-m", f"n{i}")
    new = git(repo, "rev-parse", "HEAD").strip()
    assert count_versions(repo, new, cache) == 1003
    # a cached head that is no ancestor of the new one: counted afresh
    git(repo, "checkout", "-q", "--orphan", "other")
    git(repo, "-c", "gc.auto=0", "commit", "-qm", "other root")
    other = git(repo, "rev-parse", "HEAD").strip()
    assert count_versions(repo, other, cache) == commit_count(repo) == 1
    cache.write_text("not json")
    assert count_versions(repo, new, cache) == 7


def test_status_shows_how_big_history_is(tmp_path: Path) -> None:
    folder = tmp_path / "Docs"
    init_folder(folder, {"a.txt": "a\n", "b.txt": "b\n"})
    (folder / "c.txt").write_text("c\n")
    assert run_cli("sync", str(folder))[0] == 0
    assert commit_count(folder) == 2
    code, out, _ = run_cli("status", "--json", str(folder))
    figures = json.loads(out)["folders"][0]["history"]
    counted = count_objects(folder)
    assert figures["versions"] == commit_count(folder)
    assert figures["loose_objects"] == counted["count"]
    assert figures["packs"] == counted["packs"]
    assert figures["packed_objects"] == counted["in-pack"]
    assert figures["disk_bytes"] == figures["loose_bytes"] + figures["pack_bytes"] > 0
    code, out, _ = run_cli("status", str(folder))
    assert code == 0
    line = next(li for li in out.splitlines() if li.strip().startswith("history"))
    assert "history      2 versions, " in line and " on disk (" in line
    assert f"{counted['count']} loose object" in line


# ----------------------------------------------------------------------------- the worker
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def worker(tmp_path: Path, clock: FakeClock) -> Iterator[FolderWorker]:
    folder = tmp_path / "Docs"
    init_folder(folder, {"notes.txt": "v1\n"})
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(folder)]
    w = FolderWorker(fc, config.effective(fc), paths, EventBus(), clock=clock, watch=False)
    assert w.open()
    yield w
    w.close()


def save(w: FolderWorker, clock: FakeClock, name: str, data: bytes) -> None:
    """A save the worker commits (as its watcher would report it), after the debounce."""
    (w.folder.path / name).write_bytes(data)
    w._on_fs_event(name, False)
    w.run_pending()
    clock.advance(float(w.settings["debounce"]) + 0.1)
    w.run_pending()


def settle(w: FolderWorker, clock: FakeClock) -> None:
    """Let the worker be idle long enough for a look, and wait for the look to end."""
    w.run_pending()
    clock.advance(w.upkeep.settle + 0.1)
    w.run_pending()
    w.upkeep.wait(60)
    w.run_pending()


def test_an_idle_worker_packs_its_repository(worker: FolderWorker, clock: FakeClock) -> None:
    d = worker.folder.path
    worker.run_pending()  # the start-up round
    for i in range(3):
        save(worker, clock, f"in17-{i}.txt", content_in_17(f"worker {i}"))
    git(d, "config", "gc.auto", "50")
    assert loose_in_17(d) >= 3
    commits, objects = commit_count(d), every_object(d)
    # saves are pending: no look while the folder is busy
    (d / "pending.txt").write_text("pending\n")
    worker._on_fs_event("pending.txt", False)
    worker.run_pending()
    clock.advance(0.5)
    worker.run_pending()
    assert not worker.upkeep.running and count_objects(d)["count"] > 0
    clock.advance(float(worker.settings["debounce"]))
    worker.run_pending()  # committed now; the folder is idle from here
    assert commit_count(d) == commits + 1
    objects = every_object(d)
    assert not worker.upkeep.running  # idle, but not yet for long
    settle(worker, clock)
    assert count_objects(d)["count"] == 0
    assert every_object(d) == objects
    fsck_clean(d)
    # the next look is minutes away: more loose objects wait for it
    save(worker, clock, "in17-more.txt", content_in_17("worker more"))
    save(worker, clock, "in17-more2.txt", content_in_17("worker more2"))
    settle(worker, clock)
    assert count_objects(d)["count"] > 0
    clock.advance(worker.upkeep.every)
    settle(worker, clock)
    assert count_objects(d)["count"] == 0


def loose_objects_over_gc_auto(worker: FolderWorker, clock: FakeClock, tag: str) -> int:
    """Two saves, then gc.auto lowered below the loose objects they made: the next look
    of upkeep packs. Returns the loose objects now."""
    d = worker.folder.path
    worker.run_pending()
    for i in range(2):
        save(worker, clock, f"in17-{i}.txt", content_in_17(f"{tag} {i}"))
    git(d, "config", "gc.auto", "50")
    return int(count_objects(d)["count"])


def test_a_worker_waits_for_a_users_git_command_and_packs_after(
        worker: FolderWorker, clock: FakeClock) -> None:
    d = worker.folder.path
    loose = loose_objects_over_gc_auto(worker, clock, "lock")
    lock = d / ".git" / "index.lock"
    proc = hold_open(lock)
    try:
        settle(worker, clock)
        assert count_objects(d)["count"] == loose
        clock.advance(worker.upkeep.busy_retry / 2)
        settle(worker, clock)
        assert count_objects(d)["count"] == loose
    finally:
        proc.kill()
        proc.wait()
        lock.unlink()
    clock.advance(worker.upkeep.busy_retry)  # looked at again soon, not in minutes
    settle(worker, clock)
    assert count_objects(d)["count"] == 0


def test_no_packing_while_the_folder_is_paused_by_a_git_operation(
        worker: FolderWorker, clock: FakeClock) -> None:
    d = worker.folder.path
    loose = loose_objects_over_gc_auto(worker, clock, "paused")
    (d / ".git" / "MERGE_HEAD").write_text(git(d, "rev-parse", "HEAD"))  # a merge under way
    settle(worker, clock)
    assert worker.state.state == "paused"
    assert count_objects(d)["count"] == loose
    (d / ".git" / "MERGE_HEAD").unlink()
    settle(worker, clock)  # resumed: the scan and round first, then a look once idle again
    settle(worker, clock)
    assert count_objects(d)["count"] == 0
