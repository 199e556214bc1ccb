"""Start-up: each folder's watch and scan begin before its worker exists, and the worker
takes both over without losing an event or scanning twice."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gitsync.config import Paths, load_config
from gitsync.daemon import Daemon, EarlyStart
from gitsync.events import EventBus
from gitsync.worker import FolderWorker
from tests.helpers import ROOT, git, init_folder, wait_for


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "v1\n"})
    return d


def test_events_before_the_worker_are_held_then_handed_over_in_order(folder: Path) -> None:
    (folder / "offline.txt").write_text("saved while no daemon ran\n")
    early = EarlyStart(folder)
    try:
        assert early.watcher is not None
        assert early.scan() == ["offline.txt"]  # git status, begun after the watch
        (folder / "first.txt").write_text("1\n")
        (folder / "second.txt").write_text("2\n")
        assert wait_for(lambda: {"first.txt", "second.txt"}
                        <= {p for p, _ in early._held}, 10)
        got: list[tuple[str, bool]] = []
        rescans: list[int] = []
        early.attach(lambda p, gone: got.append((p, gone)), lambda: rescans.append(1))
        names = [p for p, _ in got]
        assert names.index("first.txt") < names.index("second.txt")
        (folder / "third.txt").write_text("3\n")  # after attach: straight through
        assert wait_for(lambda: "third.txt" in [p for p, _ in got], 10)
        assert early._held == [] and rescans == []
    finally:
        early.stop()


def test_an_overflow_before_the_worker_asks_it_for_a_rescan(folder: Path) -> None:
    early = EarlyStart(folder)
    try:
        early._overflow()
        rescans: list[int] = []
        early.attach(lambda p, gone: None, lambda: rescans.append(1))
        assert rescans == [1]
    finally:
        early.stop()


def test_the_worker_commits_what_the_early_scan_found_without_scanning_again(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "offline.txt").write_text("saved while no daemon ran\n")
    early = EarlyStart(folder)
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(folder)]
    w = FolderWorker(fc, config.effective(fc), paths, EventBus(), early=early)
    monkeypatch.setattr(w.repo, "changed_paths", lambda: pytest.fail("scanned twice"))
    try:
        assert w.open()
        assert git(folder, "show", "HEAD:offline.txt") == "saved while no daemon ran\n"
        assert w.state.state == "watching"
        # The early watch is the worker's now: a save reaches its queue.
        (folder / "later.txt").write_text("later\n")
        assert wait_for(lambda: any(m[0] == "fs" and m[1][0] == "later.txt"
                                    for m in list(w._queue.queue)), 10)
    finally:
        w.close()
        if w._watcher is not None:
            w._watcher.stop()


def test_a_daemon_starts_without_importing_pygit2_before_the_watch_and_scan(
        folder: Path) -> None:
    """The order that lets the scan run beside the imports, checked in a fresh
    interpreter: EarlyStart needs neither pygit2 nor the worker."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitsync.daemon import EarlyStart\n"
        f"e = EarlyStart(Path({str(folder)!r}))\n"
        "assert 'pygit2' not in sys.modules and 'gitsync.worker' not in sys.modules\n"
        "print(e.scan())\n"
        "e.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_daemon_commits_a_change_made_while_it_was_down(folder: Path) -> None:
    (folder / "notes.txt").write_text("v2 while down\n")
    d = Daemon(Paths.discover(), {"debounce": 0.2})
    ready = threading.Event()
    t = threading.Thread(target=d.run, kwargs={"install_signals": False,
                                               "on_ready": ready.set}, name="daemon")
    t.start()
    try:
        assert ready.wait(20)
        assert d._early == {}  # every early start was taken over or stopped
        assert wait_for(lambda: git(folder, "show", "HEAD:notes.txt") == "v2 while down\n",
                        20)
        (folder / "notes.txt").write_text("v3 while up\n")
        assert wait_for(lambda: git(folder, "show", "HEAD:notes.txt") == "v3 while up\n", 20)
    finally:
        d.stop()
        t.join(60)
