"""The scale run's own machinery, checked on tiny sizes: the generated history is what the
suite claims (commit and file counts, a few files per commit, fsck-clean), the sync round's
edit changes one line, and the memory judgment fails a growing series only."""

from __future__ import annotations

import random
from pathlib import Path

from tests.reliability.harness import Sandbox, memory_failed, rss_trend
from tests.reliability.scale import (
    LINES,
    build_hub,
    edit_line,
    file_content,
)


def test_history_has_the_asked_commits_and_files(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sb")
    hub = tmp_path / "hub.git"
    hist = build_hub(sandbox, hub, 300, 200, random.Random(7))
    assert sandbox.git(hub, "rev-list", "--count", "main").strip() == "200"
    tip = sorted(sandbox.git(hub, "ls-tree", "-r", "--name-only", "main").splitlines())
    assert tip == hist.paths and len(tip) == 300
    assert len({p.split("/", 1)[0] for p in tip}) == 3  # 100 files a directory
    r = sandbox.run("git", "-C", str(hub), "fsck", "--full", "--strict", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # After the files arrived, each commit touches a few files (a rename counts two).
    log = sandbox.git(hub, "log", "--format=tformat:@", "--name-only", "--no-renames", "main")
    touched = [len(block.split()) for block in log.split("@")[1:]]
    later, adding = touched[:190], touched[190:]  # newest first: 10 commits brought 30 each
    assert adding == [30] * 10
    assert max(later) <= 4 and sum(later) / len(later) > 1.2
    size = int(sandbox.git(hub, "cat-file", "-s", f"main:{tip[0]}"))
    assert 900 <= size <= 1300


def test_history_repeats_for_a_seed(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sb")
    tips = []
    for name in ("one.git", "two.git"):
        build_hub(sandbox, tmp_path / name, 120, 60, random.Random(3))
        tips.append(sandbox.git(tmp_path / name, "rev-parse", "main").strip())
    assert tips[0] == tips[1]


def test_each_edit_changes_one_line_and_never_repeats() -> None:
    seen = {file_content(5, 0)}
    prev = file_content(5, 0).splitlines()
    for v in range(1, 3 * LINES):
        now = file_content(5, v).splitlines()
        assert len(now) == LINES
        assert sum(a != b for a, b in zip(prev, now, strict=True)) == 1
        assert file_content(5, v) not in seen
        seen.add(file_content(5, v))
        prev = now
    assert file_content(5, 0) != file_content(6, 0)


def test_edit_line_rewrites_only_that_line(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/f.txt").write_bytes(file_content(1, 0))
    edit_line(tmp_path, ["d/f.txt"], 2, "edited on B:")
    lines = (tmp_path / "d/f.txt").read_bytes().splitlines()
    assert lines[2] == b"edited on B: d/f.txt"
    assert [x for i, x in enumerate(lines) if i != 2] == \
        [x for i, x in enumerate(file_content(1, 0).splitlines()) if i != 2]


def test_memory_judgment_catches_growth_only() -> None:
    flat = [(t * 10.0, 80_000 + (t % 3) * 500) for t in range(180)]
    growing = [(t * 10.0, 80_000 + t * 200) for t in range(180)]  # ~70 MiB/h
    warmup = [(t * 10.0, 60_000 + min(t, 30) * 600) for t in range(180)]
    for samples, bad in ((flat, False), (growing, True), (warmup, False)):
        trend = rss_trend(samples)
        assert memory_failed(samples[0][1], samples[-1][1], trend) is bad, (samples, trend)
