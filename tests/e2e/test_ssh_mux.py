"""One shared SSH connection per host, against a real OpenSSH server on 127.0.0.1.

The remote is reached the way a user reaches a server: a host alias in ``~/.ssh/config``
(tests.sshd.ssh_wrapper_env makes ssh read it), no ssh command of their own, so gitsync builds
the ssh command and shares the connection. What is checked: a daemon keeps one connection
(one master, one sshd session process) for its fetches, pushes and live ref stream, with the
control socket private under the state directory and gone when the daemon stops; transfers
still work after the master or the whole server died; and a user's own ssh command is run as
written, without connection sharing.
"""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitsync.config import Paths
from gitsync.errors import GitsyncError
from gitsync.sshmux import SshConnections
from gitsync.transport import RemoteUnreachable, Transport
from tests.helpers import daemon, git, run_cli, wait_for
from tests.sshd import SshServer, ssh_wrapper_env
from tests.test_refstream import make_clone, make_hub, processes_mentioning, push_commit

ALIAS = "gitsync-mux-box"


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    return make_hub(tmp_path / "srv" / "notes.git")


@pytest.fixture
def alias(sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``ALIAS`` names the server in the test user's ssh config; ssh on PATH reads it."""
    home = Path(os.environ["HOME"])
    sshd.write_ssh_config(home, ALIAS)
    for name, value in ssh_wrapper_env(home).items():
        monkeypatch.setenv(name, value)
    return ALIAS


def masters(control_dir: Path) -> list[str]:
    """Live ssh masters (ssh renames itself ``ssh: PATH [mux]``) for sockets in the dir."""
    return [c for c in processes_mentioning(str(control_dir)) if "[mux]" in c]


def sockets(control_dir: Path) -> list[Path]:
    if not control_dir.is_dir():
        return []
    return [p for p in control_dir.iterdir() if stat.S_ISSOCK(p.lstat().st_mode)]


def control_dir_of(connections: SshConnections) -> Path:
    """The sockets' directory: STATE_DIR/ssh, or the short fallback when a long temporary
    directory (as in some CI runs) makes that path too long for a socket."""
    directory = connections.directory
    assert directory is not None
    return directory


def master_pid(control_dir: Path) -> int:
    [line] = masters(control_dir)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode() == line:
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no pid for {line}")


def remote_tip(hub: Path) -> str:
    return git(hub, "rev-parse", "refs/heads/main").strip()


def commit(work: Path) -> str:
    """Commit a change in ``work`` without pushing it; returns the new tip."""
    target = work / "note.txt"
    target.write_text(target.read_text() + "more\n" if target.exists() else "first\n")
    git(work, "add", "note.txt")
    git(work, "commit", "-q", "-m", "change")
    return git(work, "rev-parse", "HEAD").strip()


def contains(repo: Path, oid: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", oid, "HEAD"],
                          capture_output=True).returncode == 0


def test_a_daemon_keeps_one_private_connection_and_closes_it(
        sshd: SshServer, alias: str, hub: Path, tmp_path: Path) -> None:
    a = tmp_path / "A"
    a.mkdir()
    (a / "notes.txt").write_text("first\n")
    code, _, err = run_cli("init", str(a), "--device", "laptop", "--remote", f"{alias}:{hub}")
    assert code == 0, err
    paths = Paths.discover()
    config = paths.config_file.read_text()
    # the host side of the live ref stream runs this checkout's gitsync
    paths.config_file.write_text(config.replace(
        "[settings]", f'[settings]\nremote_gitsync = "{sys.executable} -m gitsync.cli"'))
    control_dir = control_dir_of(SshConnections(paths.state_dir))  # the daemon's choice
    other = make_clone(hub, tmp_path / "other")  # another device, pushing with plain git
    with daemon("--debounce", "0.2", "--debug", log=tmp_path / "d.log") as d:
        assert wait_for(lambda: "live updates from" in d.output(), timeout=30), d.output()
        for i in range(3):
            (a / f"save-{i}.txt").write_text(f"save {i}\n")
            assert wait_for(lambda i=i: f"save-{i}.txt" in git(
                hub, "ls-tree", "--name-only", "main", check=False), timeout=30), d.output()
            git(other, "pull", "-q", "--no-rebase", "origin", "main")
            theirs = push_commit(other)  # announced by the stream, then fetched
            assert wait_for(lambda t=theirs: contains(a, t), timeout=30), d.output()
        assert f"live updates from {alias} connected" in d.output()
        # the stream's word of our own push costs no fetch: the folder has that tip already
        (a / "last.txt").write_text("last\n")
        assert wait_for(lambda: "last.txt" in git(hub, "ls-tree", "--name-only", "main"),
                        timeout=30)
        tip = remote_tip(hub)
        assert wait_for(lambda: f"moved to {tip}" in d.output(), timeout=10)
        time.sleep(0.5)  # the worker has handled that word by now
        since_commit = d.output().split("added last.txt", 1)[1]
        assert "git push" in since_commit
        assert "git fetch" not in since_commit, since_commit
        # one connection carried every fetch, push and the stream: one master, one session
        assert len(masters(control_dir)) == 1, masters(control_dir)
        assert wait_for(lambda: len(sshd.connections()) == 1, timeout=10), sshd.connections()
        mode = control_dir.stat().st_mode
        assert stat.S_IMODE(mode) == 0o700 and control_dir.stat().st_uid == os.getuid()
        [sock] = sockets(control_dir)
        assert sock.lstat().st_uid == os.getuid()
        assert len(os.fsencode(sock)) + 17 < 104  # room for ssh's temporary suffix
    assert d.proc.returncode == 0, d.output()
    assert not sockets(control_dir)
    assert wait_for(lambda: not masters(control_dir), timeout=5), masters(control_dir)
    assert wait_for(lambda: not sshd.connections(), timeout=10), sshd.connections()


def test_transfers_survive_a_killed_master_and_a_restarted_server(
        sshd: SshServer, alias: str, hub: Path, tmp_path: Path) -> None:
    work = make_clone(hub, tmp_path / "work")
    git(work, "remote", "set-url", "origin", f"{alias}:{hub}")
    connections = SshConnections(tmp_path / "st")
    control_dir = control_dir_of(connections)
    # a short timeout: a transfer stuck on a dead master fails the test instead of waiting
    transport = Transport(work, connections=connections, timeout=30)
    try:
        head = commit(work)
        transport.push("origin", "HEAD", "main", expect=None)
        assert remote_tip(hub) == head
        first = master_pid(control_dir)

        os.kill(first, signal.SIGKILL)  # the master dies; its socket stays behind
        assert wait_for(lambda: not masters(control_dir), timeout=5)
        assert sockets(control_dir)
        head = commit(work)
        transport.push("origin", "HEAD", "main", expect=None)
        assert remote_tip(hub) == head
        second = master_pid(control_dir)
        assert second != first

        sshd.stop()  # the server goes away, and with it the connection
        assert wait_for(lambda: not masters(control_dir), timeout=10)
        with pytest.raises(RemoteUnreachable):
            transport.fetch("origin", "main", into="refs/remotes/origin/main")
        sshd.restart()
        other = make_clone(hub, tmp_path / "other")
        git(other, "reset", "-q", "--hard", "origin/main")
        theirs = push_commit(other)
        assert transport.fetch("origin", "main", into="refs/remotes/origin/main") == theirs
        assert len(masters(control_dir)) == 1
        assert len(sshd.connections()) == 1
    finally:
        connections.close()
    assert not sockets(control_dir)
    assert wait_for(lambda: not masters(control_dir), timeout=5)


@pytest.mark.parametrize("where", ["GIT_SSH_COMMAND", "core.sshCommand"])
def test_a_users_own_ssh_command_is_used_as_written(
        sshd: SshServer, hub: Path, tmp_path: Path, where: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "ssh-calls"
    own_ssh = tmp_path / "my-ssh"
    own_ssh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(calls))}\n'
                       'exec ssh "$@"\n')
    own_ssh.chmod(0o755)
    command = shlex.join([str(own_ssh), *shlex.split(sshd.ssh_command())[1:]])
    work = make_clone(hub, tmp_path / "work")
    git(work, "remote", "set-url", "origin", sshd.url(hub))
    if where == "GIT_SSH_COMMAND":
        monkeypatch.setenv("GIT_SSH_COMMAND", command)
    else:
        git(work, "config", "core.sshCommand", command)
    connections = SshConnections(tmp_path / "st")
    transport = Transport(work, connections=connections)
    try:
        head = commit(work)
        transport.push("origin", "HEAD", "main", expect=None)
        assert transport.fetch("origin", "main", into="refs/remotes/origin/main") == head
    finally:
        connections.close()
    lines = calls.read_text().splitlines()  # git also asks it for its variant (-G)
    assert len([x for x in lines if "git-receive-pack" in x or "git-upload-pack" in x]) == 2
    expected = " ".join(shlex.split(command)[1:])
    for line in lines:
        assert line.startswith(expected), line
        assert "Control" not in line and "ServerAlive" not in line
    assert not sockets(control_dir_of(connections))
    assert not masters(control_dir_of(connections))


def test_a_failed_first_connection_does_not_keep_others_waiting(
        sshd: SshServer, alias: str, hub: Path, tmp_path: Path) -> None:
    work = make_clone(hub, tmp_path / "work")
    git(work, "remote", "set-url", "origin", f"{alias}:/no/such/repo.git")
    connections = SshConnections(tmp_path / "st")
    transport = Transport(work, connections=connections, timeout=30)
    try:
        for _ in range(2):  # the second is not blocked by the first's turn
            with pytest.raises(GitsyncError):
                transport.fetch("origin", "main", into="refs/remotes/origin/main")
        # the connection itself was fine, so it is kept for the next transfer
        assert len(masters(control_dir_of(connections))) == 1
    finally:
        connections.close()
    assert wait_for(lambda: not masters(control_dir_of(connections)), timeout=5)
