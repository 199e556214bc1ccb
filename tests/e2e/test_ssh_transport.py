"""Transport over SSH against a real OpenSSH server on 127.0.0.1.

Each test starts its own sshd (tests.sshd.SshServer) and stops it in fixture teardown. Two ways
of reaching it are covered: an ``ssh://`` URL with the user's own ``GIT_SSH_COMMAND``, and a
``~/.ssh/config`` host alias reached through the ssh command gitsync builds itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitsync.transport import (
    AuthError,
    HostKeyError,
    PushRejected,
    RemoteNotFound,
    RemoteUnreachable,
    Transport,
    clone,
)
from tests.sshd import SshServer, make_key, ssh_wrapper_env

ALIAS = "gitsync-test-box"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, name: str, text: str = "hello\n") -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"write {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def home() -> Path:
    return Path(os.environ["HOME"])  # sealed per test by tests/conftest.py


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "srv" / "notes.git"
    path.mkdir(parents=True)
    git(path, "init", "--bare", "-q", "-b", "main")
    return path


@pytest.fixture
def local(tmp_path: Path) -> Path:
    path = tmp_path / "local"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def round_trip(url: str, env: dict[str, str], local: Path, bare: Path, tmp_path: Path) -> None:
    """push, ls-remote, fetch, clone and a rejected push through ``url``."""
    t = Transport(local, env=env, timeout=30)
    assert t.ls_remote(url, "main") is None
    assert t.fetch(url, "main", into="refs/remotes/origin/main") is None
    first = commit(local, "a.txt")
    t.push(url, first, "main", expect=None)
    assert git(bare, "rev-parse", "refs/heads/main") == first
    assert t.ls_remote(url, "main") == first

    seen: list[tuple[str, int, int]] = []
    other = tmp_path / "other"
    clone(url, other, branch="main", progress=lambda *a: seen.append(a), env=env, timeout=30)
    assert (other / "a.txt").read_text() == "hello\n"
    assert any(phase == "Receiving objects" for phase, _, _ in seen)

    theirs = commit(other, "b.txt")
    Transport(other, env=env, timeout=30).push("origin", theirs, "main", expect=first)
    assert t.fetch(url, "main", into="refs/remotes/origin/main") == theirs
    assert git(local, "rev-parse", "refs/remotes/origin/main") == theirs

    ours = commit(local, "c.txt")
    with pytest.raises(PushRejected):
        t.push(url, ours, "main", expect=first)
    assert git(bare, "rev-parse", "refs/heads/main") == theirs


def test_ssh_url_with_users_ssh_command(
    sshd: SshServer, local: Path, bare: Path, tmp_path: Path
) -> None:
    env = {"GIT_SSH_COMMAND": sshd.ssh_command()}
    round_trip(sshd.url(bare), env, local, bare, tmp_path)


def test_ssh_config_alias_with_our_ssh_command(
    sshd: SshServer, home: Path, local: Path, bare: Path, tmp_path: Path
) -> None:
    sshd.write_ssh_config(home, ALIAS)
    env = ssh_wrapper_env(home)  # no GIT_SSH_COMMAND: gitsync builds its own
    round_trip(f"{ALIAS}:{bare}", env, local, bare, tmp_path)
    assert f"Accepted publickey for {sshd.user}" in sshd.log()


def test_named_remote_over_ssh_alias(
    sshd: SshServer, home: Path, local: Path, bare: Path
) -> None:
    sshd.write_ssh_config(home, ALIAS)
    git(local, "remote", "add", "origin", f"{ALIAS}:{bare}")
    t = Transport(local, env=ssh_wrapper_env(home), timeout=30)
    tip = commit(local, "a.txt")
    t.push("origin", tip, "main", expect=None)
    assert t.ls_remote("origin", "main") == tip
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") == tip


def test_users_core_ssh_command_is_kept(sshd: SshServer, local: Path, bare: Path) -> None:
    git(local, "config", "core.sshCommand", sshd.ssh_command())
    tip = commit(local, "a.txt")
    t = Transport(local, timeout=30)
    t.push(sshd.url(bare), tip, "main", expect=None)
    assert t.ls_remote(sshd.url(bare), "main") == tip


def _assert_refused_everywhere(
    url: str, env: dict[str, str], local: Path, bare: Path, tmp_path: Path
) -> list[HostKeyError]:
    """Every operation fails with HostKeyError and writes nothing, locally or remotely."""
    tip = commit(local, "a.txt")
    t = Transport(local, env=env, timeout=30)
    errors = []
    for call in (
        lambda: t.ls_remote(url, "main"),
        lambda: t.fetch(url, "main", into="refs/remotes/origin/main"),
        lambda: t.push(url, tip, "main", expect=None),
        lambda: clone(url, tmp_path / "c", branch=None, progress=None, env=env, timeout=30),
    ):
        with pytest.raises(HostKeyError) as info:
            call()
        errors.append(info.value)
    assert not (tmp_path / "c").exists()
    assert subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "refs/remotes/origin/main"], cwd=local
    ).returncode != 0
    assert git(bare, "for-each-ref") == ""
    return errors


def test_unknown_host_key_is_refused_with_our_ssh_command(
    sshd: SshServer, home: Path, local: Path, bare: Path, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    known_hosts.write_text("")
    sshd.write_ssh_config(home, ALIAS, known_hosts=known_hosts)
    errors = _assert_refused_everywhere(
        f"{ALIAS}:{bare}", ssh_wrapper_env(home), local, bare, tmp_path
    )
    err = errors[0]
    assert not err.changed
    assert err.host == ALIAS
    assert "unknown or has changed" in err.message
    assert f"ssh {ALIAS}" in str(err)
    assert "Host key verification failed" in err.detail
    assert known_hosts.read_text() == ""  # never accepted


def test_unknown_host_key_is_refused_with_users_ssh_command(
    sshd: SshServer, local: Path, bare: Path, tmp_path: Path
) -> None:
    # The user's own command has no BatchMode; with no terminal, ssh still cannot accept.
    known_hosts = tmp_path / "empty_known_hosts"
    known_hosts.write_text("")
    env = {"GIT_SSH_COMMAND": sshd.ssh_command(known_hosts=known_hosts)}
    errors = _assert_refused_everywhere(sshd.url(bare), env, local, bare, tmp_path)
    assert f"ssh -p {sshd.port} {sshd.user}@127.0.0.1" in str(errors[0])
    assert known_hosts.read_text() == ""


def test_changed_host_key_is_refused(
    sshd: SshServer, local: Path, bare: Path, tmp_path: Path
) -> None:
    impostor = make_key(tmp_path / "impostor_host_key")
    key_type, key_data = impostor.with_suffix(".pub").read_text().split()[:2]
    known_hosts = tmp_path / "stale_known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n")
    env = {"GIT_SSH_COMMAND": sshd.ssh_command(known_hosts=known_hosts)}
    with pytest.raises(HostKeyError) as info:
        Transport(local, env=env, timeout=30).ls_remote(sshd.url(bare), "main")
    assert info.value.changed
    assert "CHANGED" in info.value.message
    assert "ssh-keygen -R 127.0.0.1" in str(info.value)


def test_wrong_client_key_is_auth_error(
    sshd: SshServer, home: Path, local: Path, bare: Path, tmp_path: Path
) -> None:
    stranger = make_key(tmp_path / "stranger_key")
    sshd.write_ssh_config(home, ALIAS, key=stranger)
    with pytest.raises(AuthError) as info:
        Transport(local, env=ssh_wrapper_env(home), timeout=30).ls_remote(f"{ALIAS}:{bare}", "x")
    assert f"{ALIAS} refused the login" in info.value.message
    assert "Permission denied" in info.value.detail
    assert "Permission denied" not in info.value.message


def test_missing_repository_over_ssh(
    sshd: SshServer, local: Path, bare: Path, tmp_path: Path
) -> None:
    env = {"GIT_SSH_COMMAND": sshd.ssh_command()}
    with pytest.raises(RemoteNotFound):
        Transport(local, env=env, timeout=30).ls_remote(sshd.url(bare.parent / "no.git"), "x")


def test_stopped_server_is_unreachable(
    sshd: SshServer, local: Path, bare: Path
) -> None:
    env = {"GIT_SSH_COMMAND": sshd.ssh_command()}
    url = sshd.url(bare)
    sshd.stop()
    with pytest.raises(RemoteUnreachable) as info:
        Transport(local, env=env, timeout=30).ls_remote(url, "main")
    assert "will retry" in str(info.value)
