"""A running daemon keeps its folders packed while idle, and saves go on meanwhile.

The packing is held open by a ``pre-auto-gc`` hook (git runs it inside ``gc --auto``,
once it has decided to pack) that waits for the test's word: while gc runs, a save must
still become a commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import commit_count, daemon, fsck_clean, git, init_folder, run_cli, wait_for
from tests.test_upkeep import content_in_17, count_objects, every_object

HOOK = """#!/bin/sh
touch "{marks}/started"
i=0
while [ ! -e "{marks}/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
touch "{marks}/finished"
"""


def test_an_idle_daemon_packs_the_folder_and_saves_go_on_while_it_packs(
        tmp_path: Path) -> None:
    folder = tmp_path / "Docs"
    init_folder(folder, {"notes.txt": "v1\n"})
    for i in range(3):  # loose objects, more than git's estimate allows with gc.auto=50
        (folder / f"in17-{i}.txt").write_bytes(content_in_17(f"daemon {i}"))
    assert run_cli("sync", str(folder))[0] == 0
    git(folder, "config", "gc.auto", "50")
    marks = tmp_path / "marks"
    marks.mkdir()
    hook = folder / ".git" / "hooks" / "pre-auto-gc"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK.format(marks=marks))
    hook.chmod(0o755)
    loose = count_objects(folder)["count"]
    assert loose > 0

    with daemon(log=tmp_path / "d.log") as d:
        # the folder is idle after the start-up round: upkeep starts gc, held by the hook
        assert wait_for(lambda: (marks / "started").exists(), 30), d.output()
        before = commit_count(folder)
        (folder / "during.txt").write_text("saved while gc runs\n")
        assert wait_for(lambda: commit_count(folder) == before + 1, 15), d.output()
        assert git(folder, "show", "HEAD:during.txt") == "saved while gc runs\n"
        assert not (marks / "finished").exists()  # committed while gc was still running
        objects = every_object(folder)
        (marks / "release").touch()
        assert wait_for(lambda: "packed" in d.output(), 30), d.output()
        assert wait_for(lambda: count_objects(folder)["count"] < loose, 10)
        assert every_object(folder) == objects
        _code, out, _ = run_cli("status", "--json", str(folder))
        history = json.loads(out)["folders"][0]["history"]
        assert history["versions"] == commit_count(folder)
        assert history["packs"] >= 1 and history["loose_objects"] == \
            count_objects(folder)["count"]
    assert "loose objects in" in d.output()
    assert (marks / "finished").exists()
    fsck_clean(folder)


def test_a_stopping_daemon_stops_its_gc(tmp_path: Path) -> None:
    folder = tmp_path / "Docs"
    init_folder(folder, {"notes.txt": "v1\n"})
    for i in range(3):
        (folder / f"in17-{i}.txt").write_bytes(content_in_17(f"stop {i}"))
    assert run_cli("sync", str(folder))[0] == 0
    git(folder, "config", "gc.auto", "50")
    marks = tmp_path / "marks"
    marks.mkdir()
    hook = folder / ".git" / "hooks" / "pre-auto-gc"
    hook.write_text(HOOK.format(marks=marks))
    hook.chmod(0o755)
    with daemon(log=tmp_path / "d.log") as d:
        assert wait_for(lambda: (marks / "started").exists(), 30), d.output()
        assert d.terminate(timeout=20) == 0
    # the hook (a child of gc) was stopped with it, long before its own 60 s limit
    assert not (marks / "finished").exists()
    assert "packing stopped with the daemon" in d.output()
    fsck_clean(folder)
