"""Stale-lock detection against real processes: a lock someone holds open is never stale."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from gitsync.gitlocks import STALE_AFTER_S, clear_stale_locks, find_locks, is_stale


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    return work, work / ".git"


def test_find_locks_sees_index_and_ref_locks(tmp_path: Path) -> None:
    _work, gitdir = _repo(tmp_path)
    (gitdir / "index.lock").write_text("")
    (gitdir / "refs" / "heads" / "main.lock").write_text("")
    (gitdir / "refs" / "heads" / "other").write_text("")
    assert sorted(p.name for p in find_locks(gitdir)) == ["index.lock", "main.lock"]


def test_an_open_lock_is_never_stale_however_old(tmp_path: Path) -> None:
    work, gitdir = _repo(tmp_path)
    lock = gitdir / "index.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"f = open({str(lock)!r}, 'w'); print('ok', flush=True); "
         "import time; time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ok"
        assert not is_stale(lock, work, now=time.time() + 10 * STALE_AFTER_S)
        assert clear_stale_locks(gitdir, work) == []
    finally:
        holder.kill()
        holder.wait()
    assert is_stale(lock, work)
    assert clear_stale_locks(gitdir, work) == [lock]
    assert not lock.exists()


def test_git_at_work_keeps_a_young_lock_but_not_an_old_one(tmp_path: Path) -> None:
    work, gitdir = _repo(tmp_path)
    lock = gitdir / "HEAD.lock"
    lock.write_text("")
    fake = tmp_path / "git-busy"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    busy = subprocess.Popen([str(fake)], cwd=work / ".git")
    try:
        time.sleep(0.3)
        assert not is_stale(lock, work)
        assert is_stale(lock, work, now=time.time() + STALE_AFTER_S + 1)
    finally:
        busy.kill()
        busy.wait()
    assert is_stale(lock, work)
