"""Live ref updates over a real OpenSSH server on 127.0.0.1 (tests.sshd.SshServer).

The host side runs this checkout's ``python -m gitsync.refstream`` (standing in for an
installed ``gitsync``), started by sshd through the login shell exactly as ``gitsync
watch-refs`` would be. Pushes go into the hub with the real git CLI; what is checked is what
the sync worker relies on: a push is announced within the propagation budget, a host without
gitsync (or an ssh that cannot log in) degrades to polling without an exception, and stopping
leaves no process behind on either end.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from gitsync.refstream import RemoteRefStream
from tests.helpers import wait_for
from tests.sshd import SshServer, ssh_wrapper_env
from tests.test_refstream import Calls, make_clone, make_hub, processes_mentioning, push_commit

ALIAS = "gitsync-test-box"
SERVER_COMMAND = f"{shlex.quote(sys.executable)} -m gitsync.refstream"
PROMPT = 2.0  # s from a push to on_change


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    return make_hub(tmp_path / "srv" / "notes.git")


@pytest.fixture
def work(hub: Path, tmp_path: Path) -> Path:
    return make_clone(hub, tmp_path / "work")


def stop_promptly(stream: RemoteRefStream) -> None:
    started = time.monotonic()
    stream.stop()
    assert time.monotonic() - started < 5.0
    assert not stream.connected
    assert not [t for t in threading.enumerate() if t.name.startswith("refstream:")]


def test_push_is_announced_promptly_and_stop_leaves_no_process(
        sshd: SshServer, hub: Path, work: Path) -> None:
    calls = Calls()
    stream = RemoteRefStream(sshd.url(hub), "main", calls, remote_command=SERVER_COMMAND,
                             env={"GIT_SSH_COMMAND": sshd.ssh_command()})
    stream.start()
    try:
        assert calls.at_least(1, timeout=15), sshd.log()  # once on connect
        assert stream.connected
        for n in range(5):
            push_commit(work)
            assert calls.at_least(2 + n), f"push {n + 1} not announced within {PROMPT} s"
        assert len(processes_mentioning(str(hub))) >= 2  # ssh here, watch-refs over there
    finally:
        stop_promptly(stream)
    # the ssh client is killed at once; the host side sees its stdin close and exits
    assert wait_for(lambda: not processes_mentioning(str(hub)), timeout=5), \
        processes_mentioning(str(hub))


def test_alias_through_our_own_ssh_command(
        sshd: SshServer, hub: Path, work: Path) -> None:
    home = Path(os.environ["HOME"])
    sshd.write_ssh_config(home, ALIAS)
    calls = Calls()
    stream = RemoteRefStream(f"{ALIAS}:{hub}", "main", calls, remote_command=SERVER_COMMAND,
                             env=ssh_wrapper_env(home))  # no GIT_SSH_COMMAND: BatchMode ssh
    stream.start()
    try:
        assert calls.at_least(1, timeout=15), sshd.log()
        push_commit(work)
        assert calls.at_least(2)
    finally:
        stop_promptly(stream)
    assert wait_for(lambda: not processes_mentioning(str(hub)), timeout=5)


def test_host_without_gitsync_falls_back_to_polling(
        sshd: SshServer, hub: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls = Calls()
    stream = RemoteRefStream(sshd.url(hub), "main", calls,
                             remote_command="/nonexistent/gitsync",
                             env={"GIT_SSH_COMMAND": sshd.ssh_command()})
    stream.start()
    try:
        assert wait_for(lambda: "unavailable" in caplog.text, timeout=15), sshd.log()
        assert not stream.connected
    finally:
        stop_promptly(stream)
    assert calls.count == 0
    assert "live updates from 127.0.0.1 unavailable (gitsync not installed there?" in caplog.text
    assert "polling instead" in caplog.text
    assert not processes_mentioning(str(hub))


def test_unknown_host_key_falls_back_and_is_never_accepted(
        sshd: SshServer, hub: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    known_hosts.write_text("")
    calls = Calls()
    stream = RemoteRefStream(sshd.url(hub), "main", calls, remote_command=SERVER_COMMAND,
                             env={"GIT_SSH_COMMAND": sshd.ssh_command(known_hosts=known_hosts)})
    stream.start()
    try:
        assert wait_for(lambda: "unavailable" in caplog.text, timeout=15)
        assert not stream.connected
    finally:
        stop_promptly(stream)
    assert "ssh failed: Host key verification failed" in caplog.text
    assert known_hosts.read_text() == ""
    assert calls.count == 0


def host_sessions(hub: Path) -> list[int]:
    """Process ids of the sshd sessions serving a watch-refs of ``hub`` (parents of it)."""
    sessions = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if argv[0] == sys.executable.encode() and str(hub).encode() in argv:
            sessions += [int(line.split()[1]) for line in status.splitlines()
                         if line.startswith("PPid:")]
    return sessions


def test_dropped_connection_is_reopened_then_polling_when_the_host_is_gone(
        sshd: SshServer, hub: Path, work: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gitsync.refstream")
    calls = Calls()
    stream = RemoteRefStream(sshd.url(hub), "main", calls, remote_command=SERVER_COMMAND,
                             env={"GIT_SSH_COMMAND": sshd.ssh_command()})
    stream.start()
    try:
        assert calls.at_least(1, timeout=15)
        sessions = host_sessions(hub)
        assert len(sessions) == 1
        os.kill(sessions[0], signal.SIGTERM)  # the host drops the connection
        assert wait_for(lambda: not stream.connected, timeout=5)
        assert wait_for(lambda: "interrupted" in caplog.text, timeout=5)
        assert calls.at_least(2, timeout=5)  # lost: the owner is told to check now
        assert wait_for(lambda: stream.connected, timeout=10)  # back after 1 s
        assert calls.at_least(3, timeout=5)  # and told again: a push may have been missed
        push_commit(work)
        assert calls.at_least(4)

        sshd.stop()  # established sessions outlive the listener, as with a real sshd
        for session in host_sessions(hub):
            os.kill(session, signal.SIGTERM)
        assert wait_for(lambda: not stream.connected, timeout=5)
        # the retry cannot connect: reported once as unavailable, no exception
        assert wait_for(lambda: "unavailable" in caplog.text, timeout=10)
    finally:
        stop_promptly(stream)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("live updates from 127.0.0.1 unavailable (ssh failed: ")
    assert wait_for(lambda: not processes_mentioning(str(hub)), timeout=5)
