"""The ref-change stream: the watch-refs server on real repos, the client through a stand-in ssh.

The server half runs in a thread writing to a real pipe, against bare repositories in tmp_path
that the real git CLI pushes into. The client half runs its ssh command for real, with
``GIT_SSH_COMMAND`` pointing at a tiny stand-in that runs the remote command locally the way
sshd would (in the home directory, through a shell), so everything but the network is real.
The same client against a real sshd is in tests/e2e/test_ssh_refstream.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gitsync.backoff import Backoff
from gitsync.refstream import (
    BACKOFF_CAP,
    BACKOFF_START,
    ZERO_OID,
    RemoteRefStream,
    find_git_dir,
    read_tip,
    serve_ref_changes,
)
from gitsync.remoteurl import RemoteUrlError
from gitsync.transport import DEFAULT_SSH_COMMAND
from tests.helpers import git, wait_for

PROMPT = 2.0  # s: how soon a push must be reported
SERVER_COMMAND = f"{shlex.quote(sys.executable)} -m gitsync.refstream"
FAKE_SSH = '''\
"""Stand-in for ssh: log argv, skip options and the host, run the command as sshd would."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
i = 0
while args[i].startswith("-"):
    i += 2 if args[i] in ("-p", "-o", "-F", "-i", "-l") else 1
os.chdir(os.environ["HOME"])
os.execv("/bin/sh", ["/bin/sh", "-c", " ".join(args[i + 1:])])
'''


# -- builders ----------------------------------------------------------------------------------


def make_hub(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "--bare", "-q", "-b", "main")
    return path


def make_clone(hub: Path, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(hub), str(path)], check=True, capture_output=True)
    git(path, "checkout", "-q", "-B", "main")
    return path


def push_commit(work: Path, name: str = "note.txt", branch: str = "main") -> str:
    """Commit a change in ``work`` and push it to origin; returns the new tip."""
    target = work / name
    target.write_text(target.read_text() + "more\n" if target.exists() else "first\n")
    git(work, "add", name)
    git(work, "commit", "-q", "-m", f"change {name}")
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return git(work, "rev-parse", "HEAD").strip()


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    return make_hub(tmp_path / "hub.git")


@pytest.fixture
def work(hub: Path, tmp_path: Path) -> Path:
    return make_clone(hub, tmp_path / "work")


class Served:
    """A serve_ref_changes running in a thread, its output lines arriving in ``lines``."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()
        self.code: int | None = None

    def next(self, timeout: float = PROMPT, skip_pings: bool = True) -> str:
        """The next line (pings skipped unless asked for); fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line from watch-refs within {timeout} s")
            if not (skip_pings and line == "ping"):
                return line

    def quiet(self, seconds: float) -> list[str]:
        """Lines other than pings that arrive within ``seconds``."""
        time.sleep(seconds)
        got = []
        while not self.lines.empty():
            line = self.lines.get()
            if line != "ping":
                got.append(line)
        return got


@contextmanager
def serving(repo: Path, branch: str = "main", heartbeat: float = 30.0) -> Iterator[Served]:
    """Run the server into a real pipe; stop it and check it ended cleanly on exit."""
    served = Served()
    read_fd, write_fd = os.pipe()
    out = os.fdopen(write_fd, "w")

    def serve() -> None:
        try:
            served.code = serve_ref_changes(repo, branch, out, stop=served.stop,
                                            heartbeat=heartbeat)
        finally:
            out.close()

    def read() -> None:
        with os.fdopen(read_fd) as stream:
            for line in stream:
                served.lines.put(line.rstrip("\n"))

    threads = [threading.Thread(target=serve), threading.Thread(target=read)]
    for t in threads:
        t.start()
    try:
        yield served
    finally:
        served.stop.set()
        for t in threads:
            t.join(5)
        assert not any(t.is_alive() for t in threads), "watch-refs did not stop"
    assert served.code == 0


def processes_mentioning(marker: str) -> list[str]:
    """Command lines of live processes that contain ``marker`` (a unique tmp path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue  # a zombie has ended; its parent merely has not reaped it yet
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
        if marker in cmdline:
            found.append(cmdline)
    return found


class Calls:
    """Counts on_change calls, thread-safely."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.count += 1

    def at_least(self, n: int, timeout: float = PROMPT) -> bool:
        return wait_for(lambda: self.count >= n, timeout=timeout, interval=0.01)


# -- server: serve_ref_changes -----------------------------------------------------------------


def test_ready_reports_the_current_tip_then_a_push_promptly(hub: Path, work: Path) -> None:
    first = push_commit(work)
    with serving(hub) as served:
        assert served.next() == f"ready {first}"
        second = push_commit(work)
        assert served.next() == f"ref {second}"  # within PROMPT seconds of the push
        third = push_commit(work, "other.txt")
        assert served.next() == f"ref {third}"


def test_empty_repository_is_ready_with_zeros_and_reports_the_first_push(
        hub: Path, work: Path) -> None:
    with serving(hub) as served:
        assert served.next() == f"ready {ZERO_OID}"
        tip = push_commit(work)
        assert served.next() == f"ref {tip}"


def test_changes_through_packed_refs_are_reported(hub: Path, work: Path) -> None:
    first = push_commit(work)
    with serving(hub) as served:
        assert served.next() == f"ready {first}"
        git(hub, "pack-refs", "--all")  # moves the ref into packed-refs: the tip is unchanged
        assert served.quiet(0.5) == []
        assert not (hub / "refs" / "heads" / "main").exists()
        second = push_commit(work)
        assert served.next() == f"ref {second}"
        # a ref that only lives in packed-refs, rewritten there directly
        git(hub, "pack-refs", "--all")
        git(hub, "update-ref", "--no-deref", "refs/heads/main", first)
        assert served.next() == f"ref {first}"


def test_branch_deleted_reports_zeros_and_other_branches_are_ignored(
        hub: Path, work: Path) -> None:
    tip = push_commit(work)
    with serving(hub) as served:
        assert served.next() == f"ready {tip}"
        push_commit(work, branch="elsewhere")
        assert served.quiet(0.5) == []
        git(hub, "update-ref", "-d", "refs/heads/main")
        assert served.next() == f"ref {ZERO_OID}"


def test_branch_in_a_subdirectory(hub: Path, work: Path) -> None:
    with serving(hub, branch="team/notes") as served:
        assert served.next() == f"ready {ZERO_OID}"
        tip = push_commit(work, branch="team/notes")
        assert served.next() == f"ref {tip}"


def test_a_working_tree_is_watched_through_its_git_dir(tmp_path: Path) -> None:
    repo = tmp_path / "tree"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    assert find_git_dir(repo) == (repo / ".git").resolve()
    with serving(repo) as served:
        assert served.next() == f"ready {ZERO_OID}"
        (repo / "a.txt").write_text("a\n")
        git(repo, "add", "a.txt")
        git(repo, "commit", "-q", "-m", "a")
        assert served.next() == f"ref {git(repo, 'rev-parse', 'HEAD').strip()}"


def test_heartbeat_pings_while_nothing_moves(hub: Path) -> None:
    with serving(hub, heartbeat=0.1) as served:
        assert served.next() == f"ready {ZERO_OID}"
        assert served.next(skip_pings=False) == "ping"
        assert served.next(skip_pings=False) == "ping"


def test_stop_event_ends_it_promptly(hub: Path) -> None:
    stop = threading.Event()
    out = io.StringIO()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(
        serve_ref_changes(hub, "main", out, stop=stop)))
    thread.start()
    assert wait_for(lambda: out.getvalue().startswith("ready "))
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    assert result == [0]
    assert out.getvalue() == f"ready {ZERO_OID}\n"


def test_reader_gone_ends_it_with_exit_zero(hub: Path) -> None:
    read_fd, write_fd = os.pipe()
    out = os.fdopen(write_fd, "w")
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(
        serve_ref_changes(hub, "main", out, heartbeat=0.1)))
    thread.start()
    with os.fdopen(read_fd) as reader:
        assert reader.readline().startswith("ready ")
    thread.join(5)  # the next ping hits the closed pipe
    assert not thread.is_alive()
    with contextlib.suppress(BrokenPipeError):
        out.close()
    assert result == [0]


@pytest.mark.parametrize("name", ["missing", "plain-dir", "inside-a-tree", "a-file"])
def test_not_a_repository_exits_2_with_one_line(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    git(tree, "init", "-q", "-b", "main")
    (tmp_path / "plain-dir").mkdir()
    (tmp_path / "a-file").write_text("x")
    path = {"missing": tmp_path / "nope", "plain-dir": tmp_path / "plain-dir",
            "inside-a-tree": tree / "sub", "a-file": tmp_path / "a-file"}[name]
    out = io.StringIO()
    assert serve_ref_changes(path, "main", out) == 2
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert str(path) in err


def test_invalid_branch_exits_2(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for branch in ("bad..name", "-x", ""):
        assert serve_ref_changes(hub, branch, io.StringIO()) == 2
    assert len(capsys.readouterr().err.splitlines()) == 3


def test_command_line_ends_when_stdin_closes_and_on_a_closed_stdout(hub: Path) -> None:
    cmd = [sys.executable, "-m", "gitsync.refstream", "watch-refs", str(hub), "main",
           "--heartbeat", "0.2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == f"ready {ZERO_OID}\n"
    proc.stdin.close()  # what sshd does when the client goes away
    assert proc.wait(timeout=5) == 0
    assert proc.stderr is not None and proc.stderr.read() == ""
    proc.stdout.close()
    proc.stderr.close()

    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"ready {ZERO_OID}\n"
    assert proc.stdout.readline() == "ping\n"
    assert proc.poll() is None  # /dev/null as stdin does not stop it
    proc.stdout.close()  # the next ping finds the pipe broken
    assert proc.wait(timeout=5) == 0
    assert proc.stderr is not None and proc.stderr.read() == ""
    proc.stderr.close()


def test_command_line_ends_quietly_on_interrupt(hub: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gitsync.refstream", str(hub), "main"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"ready {ZERO_OID}\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=5)
    assert (proc.returncode, out, err) == (0, "", "")


def test_command_line_exits_2_for_a_missing_repository(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "gitsync.refstream", str(tmp_path / "x"), "main"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1


# -- client: command construction --------------------------------------------------------------


def nothing() -> None:
    pass


def test_command_for_an_ssh_url_with_user_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.delenv("GIT_SSH", raising=False)
    stream = RemoteRefStream("ssh://alice@box.example:2222/abs/path.git", "main", nothing)
    assert stream.command() == [*DEFAULT_SSH_COMMAND.split(), "-p", "2222", "alice@box.example",
                                "gitsync watch-refs /abs/path.git main"]


def test_command_for_an_alias_with_a_relative_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.delenv("GIT_SSH", raising=False)
    stream = RemoteRefStream("alias:rel/path.git", "main", nothing,
                             remote_command="~/.local/bin/gitsync")
    assert stream.command() == [*DEFAULT_SSH_COMMAND.split(), "alias",
                                "~/.local/bin/gitsync watch-refs rel/path.git main"]


def test_command_uses_the_users_ssh_command_through_the_shell(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i '/keys/my key'")
    stream = RemoteRefStream("ssh://box/~/my notes.git", "team/x", nothing)
    assert stream.command() == [
        "/bin/sh", "-c", "ssh -i '/keys/my key' \"$@\"", "ssh -i '/keys/my key'",
        "box", "gitsync watch-refs '~/my notes.git' team/x"]
    # env given to the stream wins over the process environment; GIT_SSH is a bare program
    stream = RemoteRefStream("u@box:repo.git", "main", nothing,
                             env={"GIT_SSH_COMMAND": "", "GIT_SSH": "/opt/ssh"})
    assert stream.command() == ["/opt/ssh", "u@box", "gitsync watch-refs repo.git main"]


@pytest.mark.parametrize("url", ["/srv/hub.git", "file:///srv/hub.git",
                                 "https://example.com/x.git", "box:"])
def test_only_ssh_urls_with_a_path_are_accepted(url: str) -> None:
    with pytest.raises(RemoteUrlError):
        RemoteRefStream(url, "main", nothing)


def test_stop_without_start_and_twice_is_harmless() -> None:
    stream = RemoteRefStream("box:repo.git", "main", nothing)
    stream.stop()
    stream.stop()
    assert not stream.connected


def test_backoff_doubles_to_five_minutes_and_resets_after_a_stable_connection() -> None:
    backoff = Backoff(BACKOFF_START, BACKOFF_CAP)
    delays = [backoff.next_delay(None) for _ in range(11)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff.next_delay(5.0) == 300  # connected only briefly: still backing off
    assert backoff.next_delay(45.0) == 1
    assert backoff.next_delay(None) == 2


# -- client: the stream, through a stand-in ssh ------------------------------------------------


@pytest.fixture
def fake_ssh(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "fake_ssh.py"
    script.write_text(FAKE_SSH)
    return {"GIT_SSH_COMMAND": f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
            "FAKE_SSH_LOG": str(tmp_path / "fake_ssh.log")}


@contextmanager
def streaming(url: str, env: dict[str, str], calls: Calls, **kwargs: object
              ) -> Iterator[RemoteRefStream]:
    stream = RemoteRefStream(url, "main", calls, env=env, **kwargs)  # type: ignore[arg-type]
    stream.start()
    try:
        yield stream
    finally:
        started = time.monotonic()
        stream.stop()
        assert time.monotonic() - started < 5.0
        assert not stream.connected
        assert not [t for t in threading.enumerate() if t.name.startswith("refstream:")]


def test_stream_reports_connect_and_pushes_and_leaves_nothing_behind(
        hub: Path, work: Path, fake_ssh: dict[str, str]) -> None:
    calls = Calls()
    with streaming(f"ssh://me@box:2200{hub}", {**fake_ssh}, calls,
                   remote_command=SERVER_COMMAND) as stream:
        assert calls.at_least(1, timeout=10)  # once on connect: a push may have been missed
        assert stream.connected
        assert stream.tip == read_tip(hub, "main")  # what the host announced
        pushed = push_commit(work)
        assert calls.at_least(2)  # within PROMPT seconds of the push
        assert stream.tip == pushed  # an owner that has it already need not fetch
        push_commit(work)
        assert calls.at_least(3)
        assert processes_mentioning(str(hub))
    assert stream.tip is None  # not connected: nothing is known
    assert wait_for(lambda: not processes_mentioning(str(hub)), timeout=5)
    logged = [json.loads(line) for line in Path(fake_ssh["FAKE_SSH_LOG"]).read_text().splitlines()]
    assert logged == [["-p", "2200", "me@box",
                       f"{SERVER_COMMAND} watch-refs {shlex.quote(str(hub))} main"]]


def test_relative_path_is_taken_from_the_remote_home(
        tmp_path: Path, fake_ssh: dict[str, str]) -> None:
    home = Path(os.environ["HOME"])
    hub = make_hub(home / "rel" / "hub.git")
    work = make_clone(hub, tmp_path / "work")
    calls = Calls()
    with streaming("alias:rel/hub.git", fake_ssh, calls, remote_command=SERVER_COMMAND):
        assert calls.at_least(1, timeout=10)
        push_commit(work)
        assert calls.at_least(2)


def test_missing_remote_command_falls_back_quietly(
        hub: Path, fake_ssh: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gitsync.refstream")
    calls = Calls()
    with streaming(f"box:{hub}", fake_ssh, calls, remote_command="/nonexistent/gitsync") as s:
        assert wait_for(lambda: "unavailable" in caplog.text, timeout=10)
        assert not s.connected
    assert calls.count == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "live updates from box unavailable (gitsync not installed there?" in warnings[0].message
    assert "polling instead" in warnings[0].message


def test_missing_repository_on_the_host_falls_back(
        tmp_path: Path, fake_ssh: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    calls = Calls()
    with streaming(f"box:{tmp_path / 'gone.git'}", fake_ssh, calls,
                   remote_command=SERVER_COMMAND) as stream:
        assert wait_for(lambda: "unavailable" in caplog.text, timeout=10)
        assert not stream.connected
    assert "gone.git: no such directory" in caplog.text


def test_stream_reconnects_after_the_host_side_dies(
        hub: Path, work: Path, fake_ssh: dict[str, str]) -> None:
    calls = Calls()
    with streaming(f"box:{hub}", fake_ssh, calls, remote_command=SERVER_COMMAND) as stream:
        assert calls.at_least(1, timeout=10)
        for pid in [p for p in Path("/proc").iterdir() if p.name.isdigit()]:
            try:
                cmdline = (pid / "cmdline").read_bytes()
            except OSError:
                continue
            if b"gitsync.refstream" in cmdline and str(hub).encode() in cmdline:
                os.kill(int(pid.name), signal.SIGKILL)
        assert wait_for(lambda: not stream.connected, timeout=5)
        assert calls.at_least(2, timeout=5)  # lost: the owner is told to check now
        assert wait_for(lambda: stream.connected, timeout=10)  # back after 1 s
        assert calls.at_least(3, timeout=5)  # and told again: a push may have been missed
        push_commit(work)
        assert calls.at_least(4)


def test_silent_stream_is_reopened(tmp_path: Path, fake_ssh: dict[str, str]) -> None:
    mute = tmp_path / "mute-gitsync"
    mute.write_text(f"#!/bin/sh\necho ready {ZERO_OID}\nexec sleep 60\n")
    mute.chmod(0o755)
    calls = Calls()
    with streaming(f"box:{tmp_path}", fake_ssh, calls, remote_command=str(mute),
                   silence_timeout=0.5):
        assert calls.at_least(3, timeout=10)  # ready, lost, ready again
    assert wait_for(lambda: not processes_mentioning(str(mute)), timeout=5)


def test_pings_keep_a_quiet_stream_open(tmp_path: Path, fake_ssh: dict[str, str]) -> None:
    chatty = tmp_path / "chatty-gitsync"
    chatty.write_text(f"#!/bin/sh\necho ready {ZERO_OID}\n"
                      "while sleep 0.1; do echo ping; done\n")
    chatty.chmod(0o755)
    calls = Calls()
    with streaming(f"box:{tmp_path}", fake_ssh, calls, remote_command=str(chatty),
                   silence_timeout=0.5) as stream:
        assert calls.at_least(1, timeout=10)
        time.sleep(2.0)
        assert stream.connected
        assert calls.count == 1
    assert wait_for(lambda: not processes_mentioning(str(chatty)), timeout=5)


def test_a_failing_on_change_does_not_end_the_stream(
        hub: Path, work: Path, fake_ssh: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    def explode() -> None:
        seen.append(1)
        raise RuntimeError("boom")

    stream = RemoteRefStream(f"box:{hub}", "main", explode, env=fake_ssh,
                             remote_command=SERVER_COMMAND)
    stream.start()
    try:
        assert wait_for(lambda: len(seen) >= 1, timeout=10)
        push_commit(work)
        assert wait_for(lambda: len(seen) >= 2, timeout=PROMPT)
        assert stream.connected
    finally:
        stream.stop()
    assert "boom" in caplog.text
