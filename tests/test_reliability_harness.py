"""The reliability harness's checkers catch what they must: a planted loss, a corrupt object,
a stale lock, diverged devices, conflict markers, a write outside the folders, memory growth.

A suite that passes proves something only if its checks would have failed; these tests plant
each kind of fault by hand and check that the harness reports it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.reliability.harness import (
    Device,
    OutsideGuard,
    Row,
    Sandbox,
    Writer,
    WriterLog,
    blob_id,
    converged,
    lost_versions,
    marker_files,
    repo_errors,
    rss_trend,
)
from tests.reliability.run import table


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path / "sb")


def test_blob_id_is_gits(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"hello\n")
    assert blob_id(b"hello\n") == sandbox.run("git", "hash-object", str(tmp_path / "f")
                                              ).stdout.strip()


def test_only_versions_that_stayed_long_enough_are_owed(tmp_path: Path) -> None:
    log = WriterLog(tmp_path / "w.log")
    log.saved("a.txt", b"short\n")
    log.saved("a.txt", b"long\n")  # replaces "short" at once: not owed
    time.sleep(0.3)
    log.saved("a.txt", b"newest\n")
    owed = {v.blob for v in log.owed(0.2)}
    assert owed == {blob_id(b"long\n")}
    time.sleep(0.25)
    assert {v.blob for v in log.owed(0.2)} == {blob_id(b"long\n"), blob_id(b"newest\n")}
    log.gone("a.txt")
    assert len(log.path.read_text().splitlines()) == 4


def test_a_version_neither_in_history_nor_on_disk_is_reported_lost(
        sandbox: Sandbox, tmp_path: Path) -> None:
    folder = sandbox.root / "f"
    folder.mkdir()
    sandbox.git(folder, "init", "-q")
    (folder / "a.txt").write_bytes(b"one\n")
    sandbox.git(folder, "add", "a.txt")
    sandbox.git(folder, "commit", "-qm", "one")
    log = WriterLog(tmp_path / "w.log")
    log.saved("a.txt", b"one\n")
    log.saved("b.txt", b"never committed\n")
    log.saved("c.txt", b"on disk only\n")
    (folder / "c.txt").write_bytes(b"on disk only\n")
    time.sleep(0.1)
    owed, lost = lost_versions(sandbox, log, folder, settle=0.05)
    assert owed == 3
    assert [v.path for v in lost] == ["b.txt"]


def test_corrupt_objects_stale_locks_and_a_broken_head_are_reported(sandbox: Sandbox) -> None:
    repo = sandbox.root / "r"
    repo.mkdir()
    sandbox.git(repo, "init", "-q")
    (repo / "a.txt").write_text("a\n")
    sandbox.git(repo, "add", "a.txt")
    sandbox.git(repo, "commit", "-qm", "a")
    assert repo_errors(sandbox, repo) == []
    (repo / ".git" / "index.lock").write_text("")
    (repo / ".git" / "refs" / "heads" / "main.lock").write_text("")
    errors = repo_errors(sandbox, repo)
    assert any("index.lock" in e for e in errors) and any("main.lock" in e for e in errors)
    (repo / ".git" / "index.lock").unlink()
    (repo / ".git" / "refs" / "heads" / "main.lock").unlink()
    blob = sandbox.git(repo, "rev-parse", "HEAD:a.txt").strip()
    obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not a zlib stream")
    assert any("fsck" in e for e in repo_errors(sandbox, repo))
    (repo / ".git" / "refs" / "heads" / "main").write_text("0" * 40 + "\n")
    assert any("HEAD does not resolve" in e for e in repo_errors(sandbox, repo))


def test_devices_with_different_trees_or_a_dirty_disk_have_not_converged(
        sandbox: Sandbox) -> None:
    hub = sandbox.bare_hub()
    a, b = Device(sandbox, "A"), Device(sandbox, "B")
    a.init(hub)
    b.clone(hub)
    assert converged([a, b], hub)
    (b.folder / "new.txt").write_text("not committed\n")
    assert not converged([a, b], hub)
    sandbox.git(b.folder, "add", "new.txt")
    sandbox.git(b.folder, "commit", "-qm", "b only")
    assert not converged([a, b], hub)  # B's tree is not A's, nor the hub's


def test_conflict_markers_in_user_files_are_found(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("a line with <<<<<<< inside is fine\n")
    (tmp_path / "bad.txt").write_text("x\n<<<<<<< ours\na\n=======\nb\n>>>>>>> theirs\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "MERGE_MSG").write_text("<<<<<<< not a user file\n")
    assert marker_files(tmp_path) == ["bad.txt"]


def test_a_write_outside_the_folders_is_found(sandbox: Sandbox) -> None:
    folder = sandbox.root / "f"
    folder.mkdir()
    guard = OutsideGuard(sandbox, [folder])
    (folder / "inside.txt").write_text("fine\n")
    assert guard.changes() == []
    (sandbox.root / "escaped.txt").write_text("not fine\n")
    assert guard.changes() == [str(sandbox.root / "escaped.txt")]


def test_memory_growth_shows_as_a_positive_trend() -> None:
    flat = [(t * 10.0, 50_000 + (t % 3) * 100) for t in range(60)]
    growing = [(t * 10.0, 50_000 + t * 200) for t in range(60)]  # 200 KiB per 10 s
    assert abs(rss_trend(flat)) < 5
    assert rss_trend(growing) == pytest.approx(200 / 1024 * 360, rel=0.01)


def test_a_writer_pauses_between_saves_and_logs_each_one(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    log = WriterLog(tmp_path / "w.log")
    w = Writer(folder, log, random.Random(1), hold=0.1, quick_gap=(0.001, 0.01))
    w.start()
    try:
        assert w.paused.wait(0) is False
        time.sleep(0.3)
        w.pause()
        n = len(log.versions)
        time.sleep(0.2)
        assert len(log.versions) == n and n > 0
        w.resume()
        time.sleep(0.2)
        assert len(log.versions) > n
    finally:
        w.stop()
    on_disk = {p.relative_to(folder).as_posix(): blob_id(p.read_bytes())
               for p in folder.rglob("*") if p.is_file()}
    latest = {}
    for v in log.versions:
        latest[v.path] = v
    gone = {v.path for v in log.versions if v.ended is not None} - set(on_disk)
    assert {p: v.blob for p, v in latest.items() if p not in gone} == on_disk


def test_the_table_shows_a_failed_suite() -> None:
    ok, bad = Row(suite="crash", faults=30, written=100, checked=40), Row(suite="network")
    bad.fail("lost a.txt")
    ok.convergence = [1.0, 2.0, 3.0]
    out = table([ok, bad])
    assert "| crash | 30 | 100 (40) | 0 |" in out
    assert "FAILED (1)" in out and out.count("| ok |") == 1
