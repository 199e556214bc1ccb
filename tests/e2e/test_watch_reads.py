"""A running daemon and a folder that is only read: no commit, no watch inside ``.git``."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.helpers import commit_count, daemon, git, init_folder, wait_for


def inotify_inodes(pid: int) -> list[int]:
    inodes: list[int] = []
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:  # a descriptor closed meanwhile
            continue
        inodes += [int(m, 16) for m in re.findall(r"^inotify wd:\S+ ino:([0-9a-f]+)", text,
                                                 re.MULTILINE)]
    return inodes


def test_reading_a_synced_folder_commits_nothing_and_git_is_not_watched(
        tmp_path: Path) -> None:
    folder = tmp_path / "Docs"
    files = {f"d{i}/f{j}.txt": f"needle {i} {j}\n" for i in range(5) for j in range(20)}
    hub = init_folder(folder, {"notes.txt": "v1\n"})
    for rel, text in files.items():
        (folder / rel).parent.mkdir(exist_ok=True)
        (folder / rel).write_text(text)
    with daemon("--debounce", "0.3", log=tmp_path / "d.log") as d:
        assert wait_for(lambda: "d4/f19.txt" in git(folder, "ls-files"), 30)
        git_dirs = {os.stat(p).st_ino for p, _dirs, _f in os.walk(folder / ".git")}
        watched = inotify_inodes(d.proc.pid)
        folders = {folder.stat().st_ino} | {(folder / f"d{i}").stat().st_ino for i in range(5)}
        assert folders <= set(watched)
        assert not set(watched) & git_dirs
        # The folder's 6 directories and the hub's two ref directories, nothing more.
        assert len(watched) == len(folders) + 2, watched

        before = commit_count(folder)
        for _ in range(3):
            subprocess.run(["grep", "-r", "needle", str(folder)], check=True,
                           capture_output=True)
        subprocess.run(["cat", *(str(folder / rel) for rel in files)], check=True,
                       capture_output=True)
        git(folder, "status")
        git(folder, "log", "--stat")
        # A save after the reads is one commit of that file alone: the reads queued nothing.
        (folder / "after.txt").write_text("written after the reads\n")
        assert wait_for(lambda: commit_count(folder) == before + 1, 15)
        assert git(folder, "show", "--format=", "--name-only", "HEAD").split() == ["after.txt"]
        assert wait_for(lambda: commit_count(hub) == before + 1, 15)
    assert "overflow" not in d.output().lower()
