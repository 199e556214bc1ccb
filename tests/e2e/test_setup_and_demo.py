"""The two README commands a newcomer runs: scripts/run.sh FOLDER, and the demo it runs bare."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.helpers import ROOT, git, gitsync_exe, wait_for


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)


def test_run_sh_registers_the_folder_and_commits_saves(tmp_path: Path) -> None:
    folder = tmp_path / "Notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy milk\n")
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    p = subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh"), str(folder)],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: (folder / ".git").is_dir()
                        and "todo.txt" in git(folder, "ls-files", check=False), 120), \
            (tmp_path / "run.log").read_text()
        assert wait_for(lambda: "running" in (tmp_path / "run.log").read_text(), 60)
        (folder / "todo.txt").write_text("buy milk\ncall mum\n")
        assert wait_for(lambda: git(folder, "show", "HEAD:todo.txt") == "buy milk\ncall mum\n",
                        20)
    finally:
        _stop(p)
        log.close()
    # run again: already registered, so no second init, just the daemon
    p = subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh"), str(folder)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        assert wait_for(lambda: p.poll() is None, 5)
    finally:
        _stop(p)
    assert p.stdout is not None
    assert b"already a synced folder" not in p.stdout.read()


def test_demo_syncs_its_two_devices(sealed_env: Path, tmp_path: Path) -> None:
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    p = subprocess.Popen([*gitsync_exe(), "demo"], stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    demo = sealed_env / "data" / "demo"
    try:
        desktop = demo / "desktop"
        assert wait_for(lambda: (desktop / "notes.md").exists(), 60), \
            (tmp_path / "demo.log").read_text()
        assert (desktop / "report.docx").read_bytes()[:2] == b"PK"
        # the demo's scripted edit on the laptop arrives on the desktop
        assert wait_for(lambda: "Demo edit" in (desktop / "notes.md").read_text(), 30), \
            (tmp_path / "demo.log").read_text()
        (desktop / "from-desktop.txt").write_text("hello laptop\n")
        assert wait_for(lambda: (demo / "laptop" / "from-desktop.txt").exists(), 30)
    finally:
        _stop(p)
        log.close()
    text = (tmp_path / "demo.log").read_text()
    assert "Traceback" not in text
    git(demo / "laptop", "fsck", "--strict")
