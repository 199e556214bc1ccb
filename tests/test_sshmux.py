"""Shared SSH connections: where the control sockets live, the options ssh gets, turns, close.

No ssh runs here (tests/e2e/test_ssh_mux.py has the real server); a "master" is a Unix socket
this test listens on, which is all :class:`SshConnections` looks at.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gitsync import sshmux
from gitsync.refstream import RemoteRefStream
from gitsync.remoteurl import parse_url
from gitsync.sshmux import SshConnections
from gitsync.transport import DEFAULT_SSH_COMMAND, _transfer_env
from tests.helpers import wait_for

URL = parse_url("ssh://alice@box.example:2222/srv/notes.git")


def option(options: list[str], name: str) -> str:
    values = [o.split("=", 1)[1] for o in options if o.startswith(f"{name}=")]
    assert len(values) == 1, options
    return values[0]


@contextmanager
def master_at(path: Path) -> Iterator[None]:
    """Something listening on the control socket, as a running master would be."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        sock.listen(8)
        yield
    path.unlink(missing_ok=True)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path, as the system's usually is."""
    path = Path(tempfile.mkdtemp(prefix="gs-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


def test_sockets_live_in_a_private_directory_under_the_state_dir(short_tmp: Path) -> None:
    state = short_tmp / "state"
    conns = SshConnections(state)
    options = conns.options(URL)
    assert options[::2] == ["-o"] * (len(options) // 2)
    assert option(options, "ControlMaster") == "auto"
    assert option(options, "ControlPersist") == str(sshmux.PERSIST)
    assert int(option(options, "ServerAliveInterval")) > 0
    path = Path(option(options, "ControlPath"))
    assert path.parent == state / "ssh"
    assert stat.S_IMODE((state / "ssh").stat().st_mode) == 0o700
    assert len(path.name) == 16 and int(path.name, 16) >= 0
    assert conns.control_path(URL) == path
    # one socket per host: the same for another repository there, another for another login
    assert conns.control_path(parse_url("ssh://alice@box.example:2222/other.git")) == path
    others = {conns.control_path(parse_url(u)) for u in (
        "ssh://bob@box.example:2222/r", "ssh://alice@box.example/r", "alice@other.example:r")}
    assert path not in others and len(others) == 3


def test_a_loose_directory_is_made_private(short_tmp: Path) -> None:
    (short_tmp / "state" / "ssh").mkdir(parents=True, mode=0o755)
    (short_tmp / "state" / "ssh").chmod(0o755)
    assert SshConnections(short_tmp / "state").enabled
    assert stat.S_IMODE((short_tmp / "state" / "ssh").stat().st_mode) == 0o700


def test_a_strict_umask_still_gives_a_directory_its_owner_can_enter(short_tmp: Path) -> None:
    # mkdir's mode is masked: under umask 0177 it would be 0600, which only root can use
    old = os.umask(0o177)
    try:
        assert SshConnections(short_tmp / "state").enabled
    finally:
        os.umask(old)
    assert stat.S_IMODE((short_tmp / "state" / "ssh").stat().st_mode) == 0o700


def test_a_percent_in_the_path_reaches_ssh_as_a_literal(short_tmp: Path) -> None:
    conns = SshConnections(short_tmp / "50%")
    value = option(conns.options(URL), "ControlPath")
    assert value == str(conns.control_path(URL)).replace("%", "%%")
    assert "50%%" in value


def test_a_long_state_dir_falls_back_to_a_private_temporary_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sshmux.tempfile, "gettempdir", lambda: "/tmp")
    state = tmp_path / ("x" * 80) / "state"
    conns = SshConnections(state)
    other = SshConnections(tmp_path / ("y" * 80))
    path = conns.control_path(URL)
    assert path is not None
    try:
        assert path.parent.parent == Path("/tmp")
        assert path.parent.name.startswith(f"gitsync-{os.getuid()}-")
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert len(os.fsencode(path)) + 17 <= 103  # ssh's temporary name fits a socket path
        assert not (state / "ssh").exists()
        # another home gets another directory
        assert other.control_path(URL) not in (path, None)
    finally:
        conns.close()  # removes the (empty) temporary directory
        other.close()
    assert not path.parent.exists()


def test_no_sharing_when_no_short_private_directory_can_be_had(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_tmp = tmp_path / ("t" * 90)
    long_tmp.mkdir()
    monkeypatch.setattr(sshmux.tempfile, "gettempdir", lambda: str(long_tmp))
    conns = SshConnections(tmp_path / ("s" * 90))
    assert not conns.enabled
    assert conns.options(URL) == []
    conns.hold(URL)()  # nothing to wait for


def test_a_temporary_directory_someone_else_planted_is_not_used(
        tmp_path: Path, short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sshmux.tempfile, "gettempdir", lambda: str(short_tmp))
    state = tmp_path / ("x" * 90)
    tag = sshmux.hashlib.sha256(str(state).encode()).hexdigest()[:8]
    elsewhere = short_tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    planted = short_tmp / f"gitsync-{os.getuid()}-{tag}"
    planted.symlink_to(elsewhere)
    assert not SshConnections(state).enabled
    planted.unlink()
    planted.mkdir(mode=0o755)  # ours, but loose: made private, then used
    planted.chmod(0o755)
    path = SshConnections(state).control_path(URL)
    assert path is not None and path.parent == planted
    assert stat.S_IMODE(planted.stat().st_mode) == 0o700


def test_no_sharing_on_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(sshmux.os, "name", "nt")
        found = sshmux._make_control_dir(tmp_path / "state")
    assert found is None


def test_the_default_ssh_command_gets_the_options_quoted(short_tmp: Path) -> None:
    conns = SshConnections(short_tmp / "my state")
    env = _transfer_env({}, url=URL, ssh_configured=lambda: False,
                        ssh_options=conns.options(URL))
    words = shlex.split(env["GIT_SSH_COMMAND"])
    assert words[:len(shlex.split(DEFAULT_SSH_COMMAND))] == shlex.split(DEFAULT_SSH_COMMAND)
    assert f"ControlPath={conns.control_path(URL)}" in words
    # a user's own command is left exactly as it is
    mine = _transfer_env({"GIT_SSH_COMMAND": "ssh -i k"}, url=URL, ssh_configured=lambda: False,
                         ssh_options=conns.options(URL))
    assert mine["GIT_SSH_COMMAND"] == "ssh -i k"


def test_the_ref_stream_shares_only_with_the_default_command(
        short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.delenv("GIT_SSH", raising=False)
    conns = SshConnections(short_tmp / "state")
    url = "ssh://alice@box.example:2222/srv/notes.git"
    stream = RemoteRefStream(url, "main", lambda: None, connections=conns)
    assert stream.command() == [*shlex.split(DEFAULT_SSH_COMMAND), *conns.options(URL),
                                "-p", "2222", "alice@box.example",
                                "gitsync watch-refs /srv/notes.git main"]
    for env in ({"GIT_SSH_COMMAND": "ssh -i k"}, {"GIT_SSH": "/opt/ssh"}):
        argv = RemoteRefStream(url, "main", lambda: None, env=env, connections=conns).command()
        assert not any("Control" in a for a in argv), argv


def test_uses_take_turns_until_a_master_answers(short_tmp: Path) -> None:
    conns = SshConnections(short_tmp / "state")
    path = conns.control_path(URL)
    assert path is not None
    release = conns.hold(URL)  # the first use becomes the master
    second_went = threading.Event()

    def second() -> None:
        conns.hold(URL)()
        second_went.set()

    t = threading.Thread(target=second)
    t.start()
    try:
        time.sleep(0.3)
        assert not second_went.is_set()  # waits for the first, not connecting beside it
        with master_at(path):
            assert wait_for(second_went.is_set, timeout=5)  # the master is up: go
    finally:
        release()
        t.join(5)
    release()  # twice is harmless
    # with nobody holding the turn and no master, a use gets the turn at once
    conns.hold(URL)()


def test_a_use_waits_for_the_turn_to_be_released(short_tmp: Path) -> None:
    conns = SshConnections(short_tmp / "state")
    release = conns.hold(URL)
    got = threading.Event()
    t = threading.Thread(target=lambda: (conns.hold(URL)(), got.set()))
    t.start()
    try:
        time.sleep(0.2)
        assert not got.is_set()
        release()  # the first connection failed: the next one tries
        assert wait_for(got.is_set, timeout=5)
    finally:
        release()
        t.join(5)


def test_close_removes_sockets_left_behind_and_stops_handing_out_options(
        short_tmp: Path) -> None:
    conns = SshConnections(short_tmp / "state")
    path = Path(option(conns.options(URL), "ControlPath"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # a killed master's socket: nobody listens
    assert path.exists()
    conns.close()
    assert not path.exists()
    assert conns.options(URL) == []
    assert (short_tmp / "state" / "ssh").is_dir()  # the directory under the state dir stays


def test_a_use_that_gives_up_stops_waiting(short_tmp: Path) -> None:
    conns = SshConnections(short_tmp / "state")
    release = conns.hold(URL)
    stopping = threading.Event()
    got = threading.Event()
    t = threading.Thread(target=lambda: (conns.hold(URL, give_up=stopping.is_set)(),
                                         got.set()))
    t.start()
    try:
        time.sleep(0.2)
        assert not got.is_set()
        stopping.set()  # its owner stops (a ref stream being stopped)
        assert wait_for(got.is_set, timeout=5)
    finally:
        release()
        t.join(5)
