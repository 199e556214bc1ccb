"""Web writes while a daemon owns the folders: they run on the folder's worker, either over
the local channel (a real `gitsync run`) or through the writer the daemon hands the web
server (in-process), and the result reaches the other device."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gitsync.config import Paths, folder_key
from gitsync.daemon import Daemon
from gitsync.service import Service
from tests.helpers import commit_count, daemon, git, wait_for
from tests.sync_helpers import conflicts_json, make_net, sync


def _conflicted(tmp_path: Path) -> tuple[Path, Path, str]:
    base = "title\nkeep\nfirst\nkeep too\n\nsecond\nend\n"
    net = make_net(tmp_path, {"t.txt": base, "docs/d.txt": "d1\n"}, n=2)
    a, b = net["A"], net["B"]
    (a / "t.txt").write_text("title\nkeep\nfirst by laptop\nkeep too\n\nsecond by laptop\nend\n")
    sync(a)
    (b / "t.txt").write_text("title\nkeep\nfirst by desktop\nkeep too\n\nsecond by desktop\n"
                             "end\n")
    sync(b, expect=1)
    [rec] = conflicts_json(b)
    return a, b, rec["id"]


def test_resolve_restore_and_pause_through_a_running_daemon(tmp_path: Path) -> None:
    a, b, cid = _conflicted(tmp_path)
    svc = Service(Paths.discover())
    fb = folder_key(b)
    old = git(b, "rev-parse", "HEAD").strip()
    with daemon("--debounce", "0.2", log=tmp_path / "d.log") as d:
        res = svc.resolve_conflict(fb, cid, hunks=[{"index": 0, "take": "theirs"},
                                                   {"index": 1, "take": "ours"}])
        want = "title\nkeep\nfirst by laptop\nkeep too\n\nsecond by desktop\nend\n"
        assert (b / "t.txt").read_text() == want
        assert res.commit is not None and git(b, "show", "HEAD:t.txt") == want
        # The daemon's worker ran it and pushes it; the laptop's daemon brings it home.
        assert "running 'resolve' for a command" in d.output()
        assert wait_for(lambda: (a / "t.txt").read_text() == want, 30), d.output()
        assert wait_for(lambda: conflicts_json(a) == [], 15)

        (b / "docs" / "d.txt").write_text("d2\n")
        assert wait_for(lambda: git(b, "show", "HEAD:docs/d.txt") == "d2\n", 15)
        c = svc.restore_path(fb, "docs", old)
        assert c is not None and (b / "docs/d.txt").read_text() == "d1\n"
        assert wait_for(lambda: (a / "docs/d.txt").read_text() == "d1\n", 30)

        svc.pause(fb)
        [summary] = [f for f in svc.folder_summaries() if f["id"] == fb]
        assert (summary["state"], summary["paused"]) == ("paused", True)
        before = commit_count(b)
        (b / "while-paused.txt").write_text("waits\n")
        time.sleep(1.5)  # many debounce periods: nothing may be committed meanwhile
        assert commit_count(b) == before
        svc.resume(fb)
        assert wait_for(lambda: (a / "while-paused.txt").exists(), 30), d.output()


def test_the_web_server_s_writer_runs_writes_on_the_worker(tmp_path: Path) -> None:
    a, b, cid = _conflicted(tmp_path)
    d = Daemon(Paths.discover(), {"debounce": 0.2})
    ready = threading.Event()
    t = threading.Thread(target=d.run, kwargs={"install_signals": False,
                                               "on_ready": ready.set}, name="daemon")
    t.start()
    try:
        assert ready.wait(20)
        calls: list[dict] = []

        def writer(request: dict) -> object:
            calls.append(request)
            return d.handle_request(request)

        svc = Service(d.paths, writer=writer)
        res = svc.resolve_conflict(folder_key(b), cid, take="both")
        assert [c["op"] for c in calls] == ["resolve"]
        assert calls[0]["folder"] == str(b) and calls[0]["args"]["take"] == "both"
        assert res.commit is not None
        assert "first by desktop\nfirst by laptop\n" in (b / "t.txt").read_text()
        assert wait_for(lambda: (a / "t.txt").read_text() == (b / "t.txt").read_text(), 30)
    finally:
        d.stop()
        t.join(60)
