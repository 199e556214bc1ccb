"""The folder owner lock: one writer at a time, across processes, and never left behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from gitsync.owner import FolderOwner
from tests.helpers import git, run_cli, run_proc

HOLD = """
import sys, time
from pathlib import Path
from gitsync.owner import FolderOwner
o = FolderOwner(Path(sys.argv[1]))
assert o.try_acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(gitdir: Path, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(gitdir), str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_a_second_owner_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    first, second = FolderOwner(tmp_path), FolderOwner(tmp_path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_a_killed_owner_leaves_no_lock(tmp_path: Path) -> None:
    p = _holder(tmp_path, 60)
    assert not FolderOwner(tmp_path).try_acquire()
    assert FolderOwner(tmp_path).holder_pid() == p.pid
    p.kill()
    p.wait()
    assert FolderOwner(tmp_path).try_acquire()


def test_sync_waits_for_another_writer_then_runs(tmp_path: Path) -> None:
    """Without a daemon, a CLI write waits while another process owns the folder."""
    d = tmp_path / "Docs"
    d.mkdir()
    (d / "a.txt").write_text("one\n")
    assert run_cli("init", str(d), "--json")[0] == 0
    (d / "a.txt").write_text("two\n")
    holder = _holder(d / ".git", 1.5)
    start = time.monotonic()
    p = run_proc("sync", str(d), "--json")
    waited = time.monotonic() - start
    holder.wait()
    assert p.returncode == 0, p.stderr
    assert waited >= 1.0, "sync wrote while another process owned the folder"
    assert json.loads(p.stdout)["folders"][0]["committed"] is not None
    assert git(d, "show", "HEAD:a.txt") == "two\n"
