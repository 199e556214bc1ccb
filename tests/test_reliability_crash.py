"""The crash suite's own checkers: they must catch what they are there to catch."""

from __future__ import annotations

import errno
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.reliability.crash import (
    Owed,
    classify,
    fill,
    lock_files,
    save_in_place,
    stale_left,
    tracebacks,
)
from tests.reliability.harness import Row, Sandbox, WriterLog, blob_id


@pytest.mark.parametrize(("tail", "phase"), [
    ("12:00:00 committing 3 path(s)\n", "commit"),
    ("12:00:00 committed 1234 A: edited x\n12:00:00 writing the index (1 path(s))\n",
     "index write"),
    ("12:00:00 merging abc with def\n", "merge"),
    ("12:00:00 updating the disk to abc (fast-forward)\n", "worktree update"),
    ("12:00:00 git push /hub.git\n", "push"),
    ("12:00:00 git push /hub.git\n12:00:00 git push /hub.git: exit 0 after 0.03 s\n",
     "between steps"),
    ("12:00:00 git fetch /hub.git\n", "fetch"),
    ("12:00:00 /f: 3000 change(s) found by scan\n", "first import (start-up scan)"),
    ("", "start-up"),
])
def test_a_kill_is_classified_by_the_last_line_logged(tail: str, phase: str) -> None:
    assert classify(tail) == phase


def test_tracebacks_and_logging_errors_in_daemon_output_are_found() -> None:
    out = "12:00:00 watching\nTraceback (most recent call last):\n  File x\n--- Logging error ---\n"
    assert len(tracebacks(out)) == 2
    assert tracebacks("12:00:00 commit failed: No space left on device; will retry\n") == []


def test_a_lock_left_by_a_kill_is_told_from_a_new_lock_of_the_same_name(tmp_path: Path) -> None:
    gitdir = tmp_path / ".git"
    (gitdir / "refs" / "heads").mkdir(parents=True)
    (gitdir / "index.lock").write_text("")
    (gitdir / "refs" / "heads" / "main.lock").write_text("")
    left = lock_files(gitdir)
    assert set(left) == {"index.lock", "refs/heads/main.lock"}
    assert sorted(stale_left(gitdir, left)) == ["index.lock", "refs/heads/main.lock"]
    (gitdir / "refs" / "heads" / "main.lock").unlink()  # the restart cleared it
    keep = gitdir / "keep"  # holds the old inode, so the new lock gets another one
    os.rename(gitdir / "index.lock", keep)
    (gitdir / "index.lock").write_text("")  # the new daemon's own lock
    assert stale_left(gitdir, left) == []


def test_a_planted_loss_is_reported_once(tmp_path: Path) -> None:
    sb = Sandbox(tmp_path / "sb")
    repo = tmp_path / "repo"
    sb.run("git", "init", "-q", str(repo))
    (repo / "a.txt").write_bytes(b"kept\n")
    sb.git(repo, "add", "a.txt")
    sb.git(repo, "commit", "-qm", "one")
    log = WriterLog(tmp_path / "w.log")
    log.saved("a.txt", b"kept\n")
    log.saved("b.txt", b"never committed\n")  # and gone from disk: lost
    for v in log.versions:
        v.written -= 100
    row = Row("crash")
    owed = Owed(sb, row)
    assert owed.check(log, repo, "first") == 2
    owed.check(log, repo, "again")
    assert row.lost == 1 and len(row.failures) == 1
    assert blob_id(b"never committed\n")[:10] in row.failures[0]


def test_an_in_place_save_keeps_the_length_and_is_logged(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_bytes(b"alpha beta gamma\n")
    log = WriterLog(tmp_path / "w.log")
    save_in_place(tmp_path, log, random.Random(3), ["d.txt"])
    data = (tmp_path / "d.txt").read_bytes()
    assert len(data) == 17 and data != b"alpha beta gamma\n"
    assert log.versions[-1].blob == blob_id(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_the_filler_really_fills_the_disk(tmp_path: Path) -> None:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        assert fill(mnt / "filler") > 900_000
        with pytest.raises(OSError) as e:
            (mnt / "one-more").write_bytes(b"x" * 4096)
        assert e.value.errno == errno.ENOSPC
        (mnt / "filler").unlink()
        (mnt / "one-more").write_bytes(b"x" * 4096)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
