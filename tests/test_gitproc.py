"""The one way gitsync runs git: sealed environment, stdin, no hang, nothing left running."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from gitsync.errors import RepoError, RuntimeFailure
from gitsync.gitproc import GitFailed, GitSilent, GitStopped, git_env, run_git


def _script(tmp_path: Path, body: str, name: str = "fake-git") -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_environment_is_sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere/else/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/somewhere/else/index")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LANGUAGE", "de")
    fake = _script(tmp_path, 'echo "$@"; env\n')
    out = run_git(["status"], git=fake, cwd=tmp_path, env={"GIT_WORK_TREE": "/mine"}).text
    args, *env_lines = out.splitlines()
    env = dict(line.split("=", 1) for line in env_lines if "=" in line)
    assert args == "--no-optional-locks status"
    assert env["LC_ALL"] == "C" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert "LANGUAGE" not in env
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env  # inherited: dropped
    assert env["GIT_WORK_TREE"] == "/mine"  # asked for: kept
    assert git_env({"GIT_DIR": "/x"})["GIT_DIR"] == "/x"


def test_git_works_on_cwd_even_under_a_parent_gits_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    for repo in (mine, other):
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))  # as a hook's environment would have
    top = run_git(["rev-parse", "--show-toplevel"], cwd=mine, check=True).text.strip()
    assert Path(top) == mine


def test_no_stdin_unless_given(tmp_path: Path) -> None:
    fake = _script(tmp_path, "cat; echo done\n")
    assert run_git([], git=fake, cwd=tmp_path, timeout=10).text == "done\n"  # EOF at once


def test_large_input_and_output_together_never_deadlock(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    blob = os.urandom(3 << 20)
    oid = run_git(["hash-object", "-w", "--stdin"], cwd=repo, input=blob, check=True).text
    assert oid.strip() == hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
    # far more than a pipe holds, in both directions at once
    asks = (oid.strip() + "\n").encode() * 50_000
    chunks: list[bytes] = []
    result = run_git(["cat-file", "--batch-check"], cwd=repo, input=asks, check=True,
                     on_stdout=chunks.append)
    assert result.text.count(f"{oid.strip()} blob {len(blob)}\n") == 50_000
    assert b"".join(chunks) == result.stdout


def test_check_raises_with_gits_reason(tmp_path: Path) -> None:
    result = run_git(["rev-parse", "--verify", "nope"], cwd=tmp_path)
    assert not result.ok and result.returncode != 0
    with pytest.raises(GitFailed) as info:
        result.check()
    assert isinstance(info.value, RepoError)
    assert "not a git repository" in str(info.value)
    assert info.value.argv[:3] == ("git", "--no-optional-locks", "rev-parse")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_silent_git_and_its_children_are_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    fake = _script(tmp_path, f"sleep 30 & echo $! > {pid_file}\nwait\n")
    started = time.monotonic()
    with pytest.raises(GitSilent):
        run_git([], git=fake, cwd=tmp_path, timeout=0.5)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 3
    while _alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid_file.read_text()))


def test_an_exception_in_a_callback_stops_git(tmp_path: Path) -> None:
    pid_file = tmp_path / "git.pid"
    fake = _script(tmp_path, f"echo $$ > {pid_file}\necho first\nexec sleep 30\n")

    class Enough(Exception):
        pass

    def stop(chunk: bytes) -> None:
        raise Enough

    with pytest.raises(Enough):
        run_git([], git=fake, cwd=tmp_path, on_stdout=stop)
    assert not _alive(int(pid_file.read_text()))


def test_missing_git_is_a_runtime_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as info:
        run_git(["status"], git=str(tmp_path / "no-git-here"), cwd=tmp_path)
    assert "install git" in str(info.value)


def test_only_gitproc_starts_git() -> None:
    # refstream keeps its own Popen for the long-lived ssh stream (ssh, not git), and sshmux
    # asks a shared ssh connection to close (`ssh -O exit`);
    # autostart runs the platform's service manager (systemctl, launchctl) and desktop its
    # notifier (osascript, powershell): programs of the desktop, never git.
    allowed = {"gitproc.py", "refstream.py", "sshmux.py", "autostart/__init__.py",
               "desktop.py"}
    package = Path(__file__).resolve().parents[1] / "gitsync"
    spawning = {
        str(p.relative_to(package)) for p in package.rglob("*.py")
        if "import subprocess" in p.read_text() or "from subprocess" in p.read_text()
    }
    assert spawning <= allowed, spawning - allowed


def test_low_priority_runs_git_under_nice_and_ionice(tmp_path: Path) -> None:
    fake = _script(tmp_path, "cut -d' ' -f19 /proc/$$/stat; ionice -p $$\n")
    normal = run_git([], git=fake, cwd=tmp_path, check=True).text.split("\n")
    low = run_git([], git=fake, cwd=tmp_path, check=True, low_priority=True)
    nice, ioclass = low.text.split("\n")[:2]
    assert int(nice) == 19 and int(normal[0]) < 19
    assert ioclass == "idle"
    assert low.argv[0] == fake  # the result names git, not the wrappers


def test_should_stop_stops_git_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    fake = _script(tmp_path, f"sleep 30 & echo $! > {pid_file}\nwait\n")
    started = time.monotonic()
    with pytest.raises(GitStopped):
        run_git([], git=fake, cwd=tmp_path, should_stop=lambda: time.monotonic() - started > 0.5)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 3
    while _alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid_file.read_text()))
