"""Requests from commands reach the folder's worker inside a running daemon (in-process)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitsync import channel
from gitsync.config import Paths
from gitsync.daemon import Daemon
from gitsync.service import Service
from tests.helpers import git, run_cli, wait_for


@pytest.fixture
def running() -> Iterator[Daemon]:
    d = Daemon(Paths.discover(), {"debounce": 0.2})
    ready = threading.Event()
    t = threading.Thread(target=d.run, kwargs={"install_signals": False,
                                               "on_ready": ready.set}, name="daemon")
    t.start()
    try:
        assert ready.wait(20)
        yield d
    finally:
        d.stop()
        t.join(60)


def test_a_folder_registered_a_moment_ago_is_served_at_once(tmp_path: Path,
                                                            running: Daemon) -> None:
    d = tmp_path / "Docs"
    d.mkdir()
    (d / "a.txt").write_text("one\n")
    code, _, err = run_cli("init", str(d), "--json")
    assert code == 0, err
    (d / "a.txt").write_text("two\n")
    # The daemon has not re-read its config yet: the request starts the worker itself.
    reply = channel.call(running.paths.socket_file, {"op": "sync", "folder": str(d),
                                                     "args": {}})
    assert reply["outcome"]["action"] in ("pushed", "none")
    assert str(d) in running.workers  # its start-up scan or the round committed the save
    assert git(d, "show", "HEAD:a.txt") == "two\n"


def test_without_an_owner_the_command_writes_itself(tmp_path: Path, running: Daemon) -> None:
    """The daemon runs but does not own the folder yet: the command owns it meanwhile."""
    d = tmp_path / "Docs"
    d.mkdir()
    (d / "a.txt").write_text("one\n")
    assert run_cli("init", str(d))[0] == 0
    (d / "a.txt").write_text("two\n")
    reports = Service(Paths.discover()).sync(str(d))
    assert reports[0].committed is not None
    assert git(d, "show", "HEAD:a.txt") == "two\n"
    assert wait_for(lambda: str(d) in running.workers, 10)  # and the daemon takes over


def test_an_unknown_request_is_a_clear_error(running: Daemon) -> None:
    with pytest.raises(channel.RemoteFailure) as e:
        channel.call(running.paths.socket_file, {"op": "format-disk", "folder": "/"})
    assert e.value.exit_code == 2 and "unknown request" in str(e.value)


def test_a_folder_the_daemon_does_not_sync_is_not_served(tmp_path: Path,
                                                         running: Daemon) -> None:
    with pytest.raises(channel.RemoteFailure) as e:
        channel.call(running.paths.socket_file,
                     {"op": "sync", "folder": str(tmp_path / "nowhere"), "args": {}})
    assert e.value.kind == "NotServed"


def test_errors_from_the_worker_reach_the_command(tmp_path: Path, running: Daemon) -> None:
    d = tmp_path / "Docs"
    d.mkdir()
    (d / "a.txt").write_text("one\n")
    assert run_cli("init", str(d))[0] == 0
    assert wait_for(lambda: str(d) in running.workers, 10)
    code, _, err = run_cli("restore", "a.txt", "--rev", "HEAD", cwd=d)
    assert code == 0, err  # already at that version: nothing to do, no error
    code, out, err = run_cli("resolve", "a.txt", "--ours", cwd=d)
    assert code == 2 and "has no recorded conflict" in err
    code, out, _ = run_cli("status", str(d), "--json")
    assert json.loads(out)["folders"][0]["daemon_running"] is True
