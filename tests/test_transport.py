"""Transport against real local repositories: bare repos in tmp_path stand in for remotes.

SSH against a real sshd is in tests/e2e/test_ssh_transport.py.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from gitsync.errors import FolderError, LockedError, RemoteError, RepoError, UserError
from gitsync.gitproc import GitResult, run_git
from gitsync.remoteurl import (
    RemoteKind,
    RemoteUrlError,
    classify_url,
    parse_url,
    redact,
)
from gitsync.transport import (
    DEFAULT_SSH_COMMAND,
    AuthError,
    HostKeyError,
    PushRejected,
    RemoteNotFound,
    RemoteRef,
    RemoteUnreachable,
    Transport,
    TransportError,
    _failure,
    _ssh_command_configured,
    _transfer_env,
    clone,
)
from tests.sshd import free_port


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def bare(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "--bare", "-q", "-b", "main")
    return path


def work(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit(repo: Path, name: str = "a.txt", text: str = "hello\n") -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"write {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def no_users_ssh_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide themselves whether a user-chosen ssh command is present."""
    for var in ("GIT_SSH_COMMAND", "GIT_SSH", "GIT_SSH_VARIANT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare(tmp_path / "remote.git")


@pytest.fixture
def local(tmp_path: Path, remote: Path) -> Path:
    repo = work(tmp_path / "local")
    git(repo, "remote", "add", "origin", str(remote))
    return repo


# -- ls-remote -----------------------------------------------------------------------------------


def test_ls_remote_on_empty_remote_is_none(local: Path, remote: Path) -> None:
    assert Transport(local).ls_remote("origin", "main") is None
    assert Transport(local).ls_remote(str(remote), "refs/heads/main") is None


def test_ls_remote_gives_tip_without_fetching(local: Path, remote: Path, tmp_path: Path) -> None:
    other = work(tmp_path / "other")
    tip = commit(other)
    git(other, "push", "-q", str(remote), "HEAD:refs/heads/main")
    t = Transport(local)
    assert t.ls_remote("origin", "main") == tip
    assert t.ls_remote(str(remote), "refs/heads/main") == tip
    assert t.ls_remote("origin", "other") is None
    # nothing was transferred
    assert subprocess.run(["git", "cat-file", "-e", tip], cwd=local).returncode != 0
    assert t.list_refs("origin", "refs/heads/*") == [RemoteRef("refs/heads/main", tip)]


def test_ls_remote_exact_match_only(local: Path, remote: Path) -> None:
    tip = commit(local)
    git(local, "push", "-q", "origin", "HEAD:refs/heads/main", "HEAD:refs/heads/x/main")
    git(local, "push", "-q", "origin", "HEAD:refs/tags/main")
    assert Transport(local).ls_remote("origin", "main") == tip
    assert Transport(local).ls_remote("origin", "refs/heads/x/main") == tip


# -- fetch ---------------------------------------------------------------------------------------


def test_fetch_into_tracking_ref(local: Path, remote: Path, tmp_path: Path) -> None:
    other = work(tmp_path / "other")
    tip = commit(other)
    git(other, "push", "-q", str(remote), "HEAD:refs/heads/main")
    t = Transport(local)
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") == tip
    assert git(local, "rev-parse", "refs/remotes/origin/main") == tip
    assert not (local / ".git" / "FETCH_HEAD").exists()
    # a second fetch after the remote moved brings the new tip
    tip2 = commit(other, "b.txt")
    git(other, "push", "-q", str(remote), "HEAD:refs/heads/main")
    assert t.fetch(str(remote), "refs/heads/main", into="refs/remotes/origin/main") == tip2


def test_fetch_missing_branch_is_none_and_leaves_ref(local: Path, remote: Path) -> None:
    tip = commit(local)
    git(local, "update-ref", "refs/remotes/origin/main", tip)
    t = Transport(local)
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") is None
    assert git(local, "rev-parse", "refs/remotes/origin/main") == tip


def test_fetch_follows_rewritten_remote(local: Path, remote: Path, tmp_path: Path) -> None:
    other = work(tmp_path / "other")
    commit(other)
    first = commit(other, "b.txt")
    git(other, "push", "-q", str(remote), "HEAD:refs/heads/main")
    t = Transport(local)
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") == first
    git(other, "reset", "-q", "--hard", "HEAD~1")
    rewritten = commit(other, "c.txt")
    git(other, "push", "-q", "--force", str(remote), "HEAD:refs/heads/main")
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") == rewritten


def test_fetch_rejects_short_local_ref(local: Path) -> None:
    with pytest.raises(ValueError):
        Transport(local).fetch("origin", "main", into="main")


# -- push ----------------------------------------------------------------------------------------


def test_push_creates_and_fast_forwards(local: Path, remote: Path) -> None:
    t = Transport(local)
    first = commit(local)
    t.push("origin", first, "main", expect=None)
    assert git(remote, "rev-parse", "refs/heads/main") == first
    second = commit(local, "b.txt")
    t.push("origin", "HEAD", "refs/heads/main", expect=first)
    assert git(remote, "rev-parse", "refs/heads/main") == second
    t.push("origin", second, "main", expect=second)  # up to date: no error
    assert git(remote, "rev-parse", "refs/heads/main") == second


def test_push_non_fast_forward_is_rejected_and_remote_unchanged(
    local: Path, remote: Path, tmp_path: Path
) -> None:
    base = commit(local)
    Transport(local).push("origin", base, "main", expect=None)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    theirs = commit(other, "theirs.txt")
    git(other, "push", "-q", "origin", "HEAD:main")
    ours = commit(local, "ours.txt")
    with pytest.raises(PushRejected) as info:
        Transport(local).push("origin", ours, "main", expect=base)
    err = info.value
    assert isinstance(err, RemoteError)
    assert err.ref == "refs/heads/main"
    assert err.reason in ("fetch first", "non-fast-forward")
    assert err.expected == base
    assert "will fetch, merge and push again" in str(err)
    assert git(remote, "rev-parse", "refs/heads/main") == theirs
    # once the remote commit is known locally the reason is a plain non-fast-forward
    git(local, "fetch", "-q", "origin")
    with pytest.raises(PushRejected) as info2:
        Transport(local).push("origin", ours, "main", expect=base)
    assert info2.value.reason == "non-fast-forward"
    assert git(remote, "rev-parse", "refs/heads/main") == theirs


def test_push_clears_a_hub_lock_left_by_a_killed_push(local: Path, remote: Path) -> None:
    # A power cut kills a push's receive-pack in the hub after it took the branch's lock:
    # git leaves the lock, and every device's push would be refused as "File exists".
    first = commit(local)
    Transport(local).push("origin", first, "main", expect=None)
    lock = remote / "refs" / "heads" / "main.lock"
    lock.write_text("0" * 40 + "\n")
    second = commit(local, "b.txt")
    Transport(local).push("origin", second, "main", expect=first)
    assert git(remote, "rev-parse", "refs/heads/main") == second
    assert not lock.exists()


def test_push_leaves_a_hub_lock_a_live_process_holds(local: Path, remote: Path) -> None:
    first = commit(local)
    Transport(local).push("origin", first, "main", expect=None)
    lock = remote / "refs" / "heads" / "main.lock"
    second = commit(local, "b.txt")
    with open(lock, "w"), pytest.raises(PushRejected):  # another push, mid-update
        Transport(local).push("origin", second, "main", expect=first)
    assert lock.exists()
    assert git(remote, "rev-parse", "refs/heads/main") == first


def test_push_rewind_is_rejected(local: Path, remote: Path) -> None:
    first = commit(local)
    second = commit(local, "b.txt")
    t = Transport(local)
    t.push("origin", second, "main", expect=None)
    with pytest.raises(PushRejected):
        t.push("origin", first, "main", expect=second)
    assert git(remote, "rev-parse", "refs/heads/main") == second


def test_push_to_checked_out_branch_reports_server_reason(local: Path, tmp_path: Path) -> None:
    commit(local)
    target = tmp_path / "nonbare"
    git(tmp_path, "clone", "-q", str(local), str(target))
    mine = commit(local, "mine.txt")  # a fast-forward, but main is checked out over there
    with pytest.raises(TransportError) as info:
        Transport(local).push(str(target), mine, "main", expect=None)
    assert not isinstance(info.value, PushRejected)
    assert "refused the update" in info.value.message


def test_push_goes_to_push_url(local: Path, remote: Path, tmp_path: Path) -> None:
    mirror = bare(tmp_path / "push-only.git")
    git(local, "remote", "set-url", "--push", "origin", str(mirror))
    tip = commit(local)
    Transport(local).push("origin", tip, "main", expect=None)
    assert git(mirror, "rev-parse", "refs/heads/main") == tip
    assert git(remote, "for-each-ref") == ""


def test_push_unknown_source_is_local_error(local: Path) -> None:
    commit(local)
    with pytest.raises(Exception) as info:
        Transport(local).push("origin", "no-such-branch", "main", expect=None)
    assert not isinstance(info.value, TransportError)
    assert "no such commit" in str(info.value)


# -- failures ------------------------------------------------------------------------------------


def test_nonexistent_local_path_is_remote_not_found(local: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.git")
    commit(local)
    t = Transport(local)
    for call in (
        lambda: t.ls_remote(missing, "main"),
        lambda: t.fetch(missing, "main", into="refs/remotes/x/main"),
        lambda: t.push(missing, "HEAD", "main", expect=None),
    ):
        with pytest.raises(RemoteNotFound) as info:
            call()
        assert "nowhere.git" in info.value.message
        assert "does not appear to be a git repository" in info.value.detail
        assert "fatal" not in str(info.value)
    with pytest.raises(RemoteNotFound):
        clone(missing, tmp_path / "c", branch=None, progress=None)
    assert not (tmp_path / "c").exists()


def test_unreachable_ssh_port_fails_fast(local: Path) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(RemoteUnreachable) as info:
        Transport(local).ls_remote(f"ssh://git@127.0.0.1:{port}/repo.git", "main")
    assert time.monotonic() - started < 10
    assert "127.0.0.1" in info.value.message
    assert "will retry; check the network" in str(info.value)
    assert "Connection refused" in info.value.detail


def test_silent_git_is_stopped_after_timeout(local: Path, tmp_path: Path) -> None:
    # A GIT_SSH_COMMAND that connects nowhere and stays silent stands in for a dead network.
    pid_file = tmp_path / "ssh.pid"
    env = {"GIT_SSH_COMMAND": f"echo $$ > {pid_file}; exec sleep 30 #"}
    started = time.monotonic()
    with pytest.raises(RemoteUnreachable) as info:
        Transport(local, env=env, timeout=1).ls_remote("ssh://host.invalid/x.git", "main")
    assert time.monotonic() - started < 8
    assert "no answer for 1 s" in info.value.message
    assert not _alive(int(pid_file.read_text()))


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for init to reap it does not count)."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True


def test_unsupported_url_is_user_error(local: Path) -> None:
    with pytest.raises(UserError):
        Transport(local).ls_remote("git://example.invalid/x.git", "main")
    git(local, "remote", "add", "helper", "ext::sh -c touch% /tmp/pwned")
    with pytest.raises(RemoteUrlError):
        Transport(local).ls_remote("helper", "main")


def test_url_is_vetted_after_insteadof_rewrite(local: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    git(local, "config", "url.ext::sh -c touch% " + str(marker) + "% #.insteadOf", "evil:")
    git(local, "config", "protocol.ext.allow", "always")
    with pytest.raises(RemoteUrlError):
        Transport(local).ls_remote("evil:x", "main")
    assert not marker.exists()


def test_held_ref_lock_is_locked_error(local: Path, remote: Path, tmp_path: Path) -> None:
    other = work(tmp_path / "other")
    commit(other)
    git(other, "push", "-q", str(remote), "HEAD:refs/heads/main")
    lock = local / ".git" / "refs" / "remotes" / "origin" / "main.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    with pytest.raises(LockedError) as info:
        Transport(local).fetch("origin", "main", into="refs/remotes/origin/main")
    assert info.value.lock_path == str(lock)


def test_missing_repo_dir_is_repo_error(tmp_path: Path) -> None:
    with pytest.raises(RepoError):
        Transport(tmp_path / "gone").ls_remote("origin", "main")


def test_our_ssh_command_reaches_ssh(local: Path, tmp_path: Path) -> None:
    # An `ssh` first on PATH records how git invoked it, then fails like a refused connection.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh-args"
    fake = bin_dir / "ssh"
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {log}\n'
        'echo "ssh: connect to host example.invalid port 22: Connection refused" >&2\nexit 255\n'
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with pytest.raises(RemoteUnreachable):
        Transport(local, env=env).ls_remote("git@example.invalid:r.git", "main")
    args = log.read_text().split()
    assert args[:4] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    assert "git@example.invalid" in args


def _result(stderr: str, stdout: str = "", returncode: int = 128) -> GitResult:
    return GitResult(("git",), returncode, stdout.encode(), stderr)


@pytest.mark.parametrize(
    ("url", "stderr", "kind"),
    [
        ("host:r.git", "Host key verification failed.\nfatal: Could not read", HostKeyError),
        ("ssh://h/r", "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", HostKeyError),
        ("u@h:r", "u@h: Permission denied (publickey).\nfatal: Could not read", AuthError),
        ("https://h/r", "fatal: could not read Username for 'https://h': terminal prompts "
         "disabled", AuthError),
        ("https://h/r", "fatal: unable to access 'https://h/r/': The requested URL returned "
         "error: 403", AuthError),
        ("https://h/r", "remote: Repository not found.\nfatal: repository 'https://h/r/' "
         "not found", RemoteNotFound),
        ("h:r", "ssh: Could not resolve hostname h: Name or service not known", RemoteUnreachable),
        ("https://h/r", "fatal: unable to access 'https://h/r/': Could not resolve host: h",
         RemoteUnreachable),
        ("h:r", "ssh: connect to host h port 22: Connection timed out", RemoteUnreachable),
        ("h:r", "ssh: connect to host h port 22: Network is unreachable", RemoteUnreachable),
        ("h:r", "fatal: protocol error: bad line length character: Welc", TransportError),
    ],
)
def test_failure_classification(url: str, stderr: str, kind: type[TransportError]) -> None:
    err = _failure("fetch", parse_url(url), _result(stderr))
    assert type(err) is kind
    assert isinstance(err, RemoteError)
    assert stderr.splitlines()[0] not in str(err)  # never git's raw text in the message
    assert err.detail == stderr  # type: ignore[attr-defined]


def test_host_key_error_says_how_to_verify() -> None:
    err = _failure(
        "fetch", parse_url("ssh://me@example.org:2222/r.git"),
        _result("Host key verification failed."),
    )
    assert isinstance(err, HostKeyError)
    assert not err.changed
    assert err.host == "example.org"
    assert "unknown or has changed" in err.message
    assert "ssh -p 2222 me@example.org" in str(err)
    assert "never accepts" in str(err)


def test_detail_hides_url_secrets() -> None:
    url = parse_url("https://alice:s3cret@example.org/r.git")
    err = _failure(
        "fetch", url,
        _result("fatal: unable to access 'https://alice:s3cret@example.org/r.git/': "
                "Could not resolve host: example.org"),
    )
    assert "s3cret" not in str(err) and "s3cret" not in err.detail  # type: ignore[attr-defined]


# -- environment ---------------------------------------------------------------------------------


def _configured(repo: Path | None) -> bool:
    return _ssh_command_configured("git", repo, {})


def test_env_adds_batch_mode_for_ssh_only(tmp_path: Path) -> None:
    env = _transfer_env({}, url=parse_url("h:r.git"), ssh_configured=lambda: False)
    assert env["GIT_SSH_COMMAND"] == DEFAULT_SSH_COMMAND
    assert "BatchMode=yes" in DEFAULT_SSH_COMMAND and "ConnectTimeout=10" in DEFAULT_SSH_COMMAND

    def never() -> bool:
        raise AssertionError("a local remote runs no ssh: no need to ask git's config")

    assert "GIT_SSH_COMMAND" not in _transfer_env({}, url=parse_url("/srv/r.git"),
                                                  ssh_configured=never)


def test_env_keeps_users_ssh_command(tmp_path: Path) -> None:
    url = parse_url("h:r.git")
    mine = {"GIT_SSH_COMMAND": "ssh -i /my/key"}
    env = _transfer_env(mine, url=url, ssh_configured=lambda: False)
    assert env["GIT_SSH_COMMAND"] == "ssh -i /my/key"
    repo = work(tmp_path / "r")
    assert not _configured(repo) and not _configured(None)
    git(repo, "config", "core.sshCommand", "ssh -F /my/config")
    assert _configured(repo) and not _configured(None)
    assert "GIT_SSH_COMMAND" not in _transfer_env({}, url=url, ssh_configured=lambda: True)
    git(tmp_path, "config", "--global", "core.sshCommand", "ssh -F /global/config")
    assert _configured(None)


def test_every_call_passes_no_optional_locks(tmp_path: Path) -> None:
    # A git stand-in that records its arguments proves the global option comes first.
    log = tmp_path / "args"
    fake = tmp_path / "git"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 0\n')
    fake.chmod(0o755)
    repo = work(tmp_path / "r")
    t = Transport(repo, git=str(fake))
    t.ls_remote(str(tmp_path), "main")
    t.push(str(tmp_path), "HEAD", "main", expect=None)
    lines = log.read_text().splitlines()
    assert lines and all(line.startswith("--no-optional-locks ") for line in lines)
    assert any(" push --atomic --porcelain " in f" {line} " for line in lines)


def test_run_git_reports_progress_and_filters_it_from_detail(tmp_path: Path) -> None:
    script = tmp_path / "git"
    script.write_text(
        "#!/bin/sh\n"
        "printf 'Receiving objects:  50%% (1/2)\\rReceiving objects: 100%% (2/2), done.\\n' >&2\n"
        "printf 'remote: Enumerating objects: 3, done.\\nwarning: kept\\n' >&2\n"
        "echo out\n"
    )
    script.chmod(0o755)
    seen: list[tuple[str, int, int]] = []
    result = run_git(["x"], git=str(script), cwd=tmp_path, timeout=10,
                     on_progress=lambda *a: seen.append(a))
    assert seen == [("Receiving objects", 1, 2), ("Receiving objects", 2, 2)]
    assert result.stderr == "warning: kept"
    assert result.stdout == b"out\n"


# -- clone ---------------------------------------------------------------------------------------


def test_clone_reports_progress(local: Path, remote: Path, tmp_path: Path) -> None:
    for i in range(20):
        commit(local, f"f{i}.txt", f"{i}\n" * 50)
    tip = git(local, "rev-parse", "HEAD")
    Transport(local).push("origin", tip, "main", expect=None)
    seen: list[tuple[str, int, int]] = []
    dest = tmp_path / "clone"
    clone(remote.as_uri(), dest, branch="main", progress=lambda *a: seen.append(a))
    assert git(dest, "rev-parse", "HEAD") == tip
    assert (dest / "f7.txt").read_text() == "7\n" * 50
    phases = {phase for phase, _, _ in seen}
    assert "Receiving objects" in phases
    done, total = next((d, t) for p, d, t in reversed(seen) if p == "Receiving objects")
    assert done == total > 0
    assert all(0 <= d <= t for _, d, t in seen)


def test_clone_local_path_and_empty_remote(remote: Path, tmp_path: Path) -> None:
    dest = tmp_path / "empty-clone"
    clone(str(remote), dest, branch=None, progress=None)
    assert (dest / ".git").is_dir()


def test_clone_missing_branch(local: Path, remote: Path, tmp_path: Path) -> None:
    Transport(local).push("origin", commit(local), "main", expect=None)
    with pytest.raises(RemoteNotFound) as info:
        clone(str(remote), tmp_path / "c", branch="nope", progress=None)
    assert "'nope'" in info.value.message
    assert not (tmp_path / "c").exists()


def test_clone_into_non_empty_dir_is_refused(remote: Path, tmp_path: Path) -> None:
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FolderError):
        clone(str(remote), dest, branch=None, progress=None)
    assert (dest / "keep.txt").read_text() == "mine"


def test_progress_exception_aborts_clone_and_cleans_up(
    local: Path, remote: Path, tmp_path: Path
) -> None:
    for i in range(5):
        commit(local, f"f{i}.txt")
    Transport(local).push("origin", "HEAD", "main", expect=None)

    class Cancelled(Exception):
        pass

    def cancel(phase: str, done: int, total: int) -> None:
        raise Cancelled

    dest = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        clone(remote.as_uri(), dest, branch=None, progress=cancel)
    assert not dest.exists()


# -- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/srv/backup/notes.git", RemoteKind.LOCAL),
        ("../notes.git", RemoteKind.LOCAL),
        ("notes.git", RemoteKind.LOCAL),
        ("./host:path", RemoteKind.LOCAL),
        ("file:///srv/notes.git", RemoteKind.FILE),
        ("ssh://git@example.org/notes.git", RemoteKind.SSH),
        ("ssh://git@example.org:2222/~/notes.git", RemoteKind.SSH),
        ("git+ssh://example.org/notes.git", RemoteKind.SSH),
        ("git@example.org:notes.git", RemoteKind.SSH),
        ("myalias:notes.git", RemoteKind.SSH),
        ("[git@example.org:2222]:notes.git", RemoteKind.SSH),
        ("https://example.org/notes.git", RemoteKind.HTTPS),
        ("HTTPS://example.org/notes.git", RemoteKind.HTTPS),
    ],
)
def test_classify_url(url: str, kind: RemoteKind) -> None:
    assert classify_url(url) is kind


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://example.org/notes.git",
        "git://example.org/notes.git",
        "ftp://example.org/notes.git",
        "ext::sh -c evil",
        "-oProxyCommand=evil:x",
        "ssh://-oProxyCommand=evil/x",
        "https:///nohost",
        "ssh://host:99999/x",
        " /leading/space",
    ],
)
def test_classify_url_rejects(url: str) -> None:
    with pytest.raises(RemoteUrlError) as info:
        classify_url(url)
    assert isinstance(info.value, UserError)
    assert info.value.hint or info.value.message


def test_parse_url_parts() -> None:
    u = parse_url("ssh://git@example.org:2222/srv/notes.git")
    assert (u.host, u.port, u.user, u.path) == ("example.org", 2222, "git", "/srv/notes.git")
    assert u.ssh_login_command() == "ssh -p 2222 git@example.org"
    a = parse_url("myalias:notes.git")
    assert (a.host, a.port, a.user, a.path) == ("myalias", None, None, "notes.git")
    assert a.ssh_login_command() == "ssh myalias"
    b = parse_url("[me@example.org:2200]:r.git")
    assert (b.host, b.port, b.user, b.path) == ("example.org", 2200, "me", "r.git")
    assert parse_url("/x").ssh_login_command() is None


def test_redact() -> None:
    assert redact("https://alice:tok@example.org/r.git") == "https://alice@example.org/r.git"
    assert redact("https://tok@example.org/r.git") == "https://***@example.org/r.git"
    assert redact("ssh://git@example.org/r.git") == "ssh://git@example.org/r.git"
    assert redact("see 'https://a:b@h/x' and git@h:y") == "see 'https://a@h/x' and git@h:y"
    assert parse_url("https://a:b@h/x").display == "https://a@h/x"


# -- one git process per transfer ----------------------------------------------------------------


def _counting_git(tmp_path: Path) -> tuple[str, Path]:
    """A git stand-in that logs each run (its arguments, one line) and then is git."""
    log = tmp_path / "git-runs"
    wrapper = tmp_path / "counting-git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec git "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), log


def _runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_transfer_is_one_git_process(local: Path, remote: Path, tmp_path: Path) -> None:
    wrapper, log = _counting_git(tmp_path)
    t = Transport(local, git=wrapper)
    first = commit(local)
    t.push("origin", first, "main", expect=None)  # the first one reads the settings too
    t.fetch("origin", "main", into="refs/remotes/origin/main")
    for op in ("push", "fetch", "ls-remote", "fetch", "push"):
        before = len(_runs(log))
        if op == "push":
            tip = commit(local, f"{len(_runs(log))}.txt")
            t.push("origin", tip, "main", expect=None)
            assert git(remote, "rev-parse", "main") == tip
        elif op == "fetch":
            assert t.fetch("origin", "main", into="refs/remotes/origin/main") == \
                git(remote, "rev-parse", "main")
        else:
            assert t.ls_remote("origin", "main") == git(remote, "rev-parse", "main")
        runs = _runs(log)[before:]
        assert len(runs) == 1, runs
        assert runs[0].startswith(f"--no-optional-locks {op} ")


def test_a_transfer_over_ssh_is_one_git_process(tmp_path: Path, remote: Path) -> None:
    # An `ssh` first on PATH that runs the remote command here stands in for a server, so
    # the core.sshCommand question (asked only for ssh remotes) is part of the count.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text('#!/bin/sh\nfor last; do :; done\nexec sh -c "$last"\n')
    (bin_dir / "ssh").chmod(0o755)
    repo = work(tmp_path / "r")
    git(repo, "remote", "add", "origin", f"localhost:{remote}")
    wrapper, log = _counting_git(tmp_path)
    t = Transport(repo, git=wrapper, env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    tip = commit(repo)
    t.push("origin", tip, "main", expect=None)
    t.fetch("origin", "main", into="refs/remotes/origin/main")
    assert any("core.sshCommand" in run for run in _runs(log))
    for _ in range(2):
        before = len(_runs(log))
        tip = commit(repo, f"{before}.txt")
        t.push("origin", tip, "main", expect=None)
        assert t.fetch("origin", "main", into="refs/remotes/origin/main") == tip
        assert len(_runs(log)) - before == 2, _runs(log)[before:]
    assert git(remote, "rev-parse", "main") == tip


def test_a_changed_remote_url_is_seen_at_the_next_transfer(local: Path, remote: Path,
                                                           tmp_path: Path) -> None:
    t = Transport(local)
    first = commit(local)
    t.push("origin", first, "main", expect=None)
    moved = bare(tmp_path / "moved.git")
    git(local, "remote", "set-url", "origin", str(moved))
    second = commit(local, "b.txt")
    t.push("origin", second, "main", expect=None)
    assert git(moved, "rev-parse", "main") == second
    assert git(remote, "rev-parse", "main") == first
    # an unsupported URL put in later is refused before git runs it
    git(local, "remote", "set-url", "origin", "ext::sh -c touch% /tmp/pwned")
    with pytest.raises(RemoteUrlError):
        t.push("origin", second, "main", expect=None)


def test_fetch_reads_a_packed_tracking_ref(local: Path, remote: Path, tmp_path: Path) -> None:
    tip = commit(local)
    t = Transport(local)
    t.push("origin", tip, "main", expect=None)
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") == tip
    git(local, "pack-refs", "--all")
    assert not (local / ".git" / "refs" / "remotes" / "origin" / "main").exists()
    assert t.fetch("origin", "main", into="refs/remotes/origin/main") == tip  # up to date
