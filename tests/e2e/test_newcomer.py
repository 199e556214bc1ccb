"""The README's first screen, followed exactly as a newcomer types it, in a fresh clone.

``git clone`` of this repository's committed HEAD, then ``scripts/run.sh`` with no argument:
it builds ``.venv`` with pip (from whatever index this machine's pip is configured for) and
runs the demo, which is stopped with Ctrl-C once an edit made on one demo device has reached
the other. Then ``scripts/run.sh FOLDER`` on a folder with files (reusing that ``.venv``), a
save, and ``gitsync log``, ``gitsync show --rev`` and ``gitsync restore``, each a real
process whose output is checked against git itself. Every command runs in its own process
group, as in a terminal, and is interrupted the way Ctrl-C does it: SIGINT to the group.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest

from tests.helpers import fsck_clean, git, wait_for

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 600.0  # a fresh .venv: pip installs gitsync and its dependencies


class Terminal:
    """A command started as from a shell prompt: its own process group, output to a file."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pgid = self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of PATTERN (multi-line) in the output; fails if the command exits
        or the time is up first."""
        rx = re.compile(pattern, re.M)
        assert wait_for(lambda: rx.search(self.output()) is not None
                        or self.proc.poll() is not None, timeout, interval=0.2), \
            f"no {pattern!r} within {timeout} s:\n{self.output()}"
        match = rx.search(self.output())
        assert match, f"exited ({self.proc.returncode}) before {pattern!r}:\n{self.output()}"
        return match

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C: SIGINT to the whole foreground group; returns the exit status."""
        os.killpg(self.pgid, signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.proc.wait(10)


@contextmanager
def terminal(args: list[str], *, cwd: Path, env: dict[str, str], log: Path
             ) -> Iterator[Terminal]:
    """Run ARGS for the block; whatever happens, its process group is killed afterwards
    (check for leftovers inside the block)."""
    term = Terminal(args, cwd=cwd, env=env, log=log)
    try:
        yield term
    finally:
        term.kill()


def assert_stopped_cleanly(term: Terminal, status: int, *places: Path) -> None:
    """Exit 0 or 130 (killed by SIGINT), no traceback, and no process left running: neither
    in the command's process group nor anywhere else with one of PLACES on its command line
    or as its working directory."""
    out = term.output()
    assert status in (0, 130), f"exit {status}:\n{out}"
    assert "Traceback" not in out, out
    assert wait_for(lambda: not _group_alive(term.pgid), 10), \
        [p.cmdline() for p in psutil.process_iter() if _pgid(p) == term.pgid]
    left = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        seen = " ".join([*(p.info["cmdline"] or []), p.info["cwd"] or ""])
        if any(str(place) in seen for place in places):
            left.append((p.info["pid"], seen))
    assert not left, f"processes left behind: {left}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _pgid(p: psutil.Process) -> int | None:
    try:
        return os.getpgid(p.pid)
    except ProcessLookupError:
        return None


def newcomer_env(gitsync_home: Path) -> dict[str, str]:
    """The test's sealed environment, plus the pip configuration of this machine's user.

    The sealed HOME hides the user's pip.conf, which is what points pip at the index this
    machine uses (a local mirror when offline); a newcomer's pip would read it.
    """
    env = {**os.environ, "GITSYNC_HOME": str(gitsync_home)}
    env.pop("VIRTUAL_ENV", None)  # the newcomer's shell has no virtualenv active
    if "PIP_CONFIG_FILE" not in env:
        real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
        xdg = Path(os.environ.get("XDG_CONFIG_HOME", real_home / ".config"))
        for conf in (xdg / "pip" / "pip.conf", real_home / ".pip" / "pip.conf"):
            if conf.is_file():
                env["PIP_CONFIG_FILE"] = str(conf)
                break
    return env


def browser() -> Callable[[str], str]:
    """A minimal browser: visit(URL) follows redirects, keeps cookies (the login link sets
    the session cookie) and returns the final page's HTML."""
    import http.cookiejar
    import urllib.request

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def visit(url: str) -> str:
        with opener.open(url, timeout=30) as resp:
            assert resp.status == 200
            return str(resp.read().decode())

    return visit


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_first_screen_of_the_readme(tmp_path: Path, sealed_env: Path) -> None:
    clone = tmp_path / "gitsync"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True,
                   capture_output=True)
    assert git(clone, "rev-parse", "HEAD") == git(REPO, "rev-parse", "HEAD")
    assert not (clone / ".venv").exists()
    env = newcomer_env(sealed_env)

    # -- scripts/run.sh: builds .venv, runs the demo until Ctrl-C --------------------------
    demo = sealed_env / "data" / "demo"
    laptop, desktop = demo / "laptop", demo / "desktop"
    with terminal(["scripts/run.sh"], cwd=clone, env=env, log=tmp_path / "demo.log") as term:
        # the demo's scripted save on the laptop, shown arriving on the desktop
        term.wait_for(r"^\[desktop\] \S+: .*\bfrom laptop\b", BUILD_TIMEOUT)
        assert wait_for(lambda: "Demo edit" in (desktop / "notes.md").read_text(), 10), \
            term.output()
        assert (desktop / "report.docx").read_bytes()[:2] == b"PK"
        # the printed link logs a browser in; the two conflicts wait on the conflicts page
        url = term.wait_for(r"Open the web pages: (http://\S+)", 10).group(1)
        visit = browser()
        page = visit(url)
        assert "laptop" in page and "desktop" in page, page
        conflicts = visit(url.split("/login")[0] + "/conflicts")
        assert "notes.md" in conflicts and "report.docx" in conflicts, conflicts
        # and the other way round, with a save of the newcomer's own
        (desktop / "from-desktop.txt").write_text("hello laptop\n")
        assert wait_for(lambda: (laptop / "from-desktop.txt").exists(), 30), term.output()
        assert (laptop / "from-desktop.txt").read_text() == "hello laptop\n"
        assert_stopped_cleanly(term, term.interrupt(), clone, demo)
    for device in (laptop, desktop):
        fsck_clean(device)
    gitsync = clone / ".venv" / "bin" / "gitsync"
    assert gitsync.is_file()
    where = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-I", "-c",
                            "import gitsync; print(gitsync.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(clone)  # the clone's code, not this checkout's
    built = gitsync.stat().st_mtime_ns

    # -- scripts/run.sh FOLDER: registers it, commits what it holds, then every save -------
    folder = tmp_path / "Notes"
    (folder / "plans").mkdir(parents=True)
    (folder / "todo.txt").write_text("buy milk\n")
    (folder / "plans" / "trip.md").write_text("# Lyon\n")
    watching = rf"^.*{re.escape(str(folder))}: watching\b"
    with terminal(["scripts/run.sh", str(folder)], cwd=clone, env=env,
                  log=tmp_path / "run.log") as term:
        term.wait_for(watching, 120)
        # it offers the one command that makes it permanent, and the way to the pages
        term.wait_for(r"on every login from now on: \S*gitsync autostart enable$", 5)
        term.wait_for(r"^Web pages: \S*gitsync web", 5)
        assert git(folder, "ls-files").split() == ["plans/trip.md", "todo.txt"]
        (folder / "todo.txt").write_text("buy milk\ncall mum\n")
        assert wait_for(lambda: git(folder, "show", "HEAD:todo.txt") == "buy milk\ncall mum\n",
                        30), term.output()
        assert_stopped_cleanly(term, term.interrupt(), clone, folder)
    assert gitsync.stat().st_mtime_ns == built  # the .venv was reused, not rebuilt

    # run again: the folder is known, so no second init, straight to watching
    with terminal(["scripts/run.sh", str(folder)], cwd=clone, env=env,
                  log=tmp_path / "run2.log") as term:
        term.wait_for(watching, 60)
        assert_stopped_cleanly(term, term.interrupt(), clone, folder)
    assert "already a synced folder" not in term.output()

    # -- gitsync log / show --rev / restore, as separate processes, judged by git ----------
    def run(*args: str) -> str:
        r = subprocess.run([str(gitsync), *args], cwd=folder, env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        return r.stdout

    commits = [line.split(" ", 1) for line in git(folder, "log", "--format=%H %s").splitlines()]
    assert len(commits) == 2
    listed = re.findall(r"^([0-9a-f]{7,40})\s+(.*\S)\s*$", run("log"), re.M)
    assert len(listed) == len(commits), listed
    for (short, line), (full, subject) in zip(listed, commits, strict=True):
        assert full.startswith(short) and line.endswith(subject), (short, line, full, subject)
    first = commits[-1][0]
    assert run("show", "todo.txt", "--rev", first) == "buy milk\n" == \
        git(folder, "show", f"{first}:todo.txt")
    out = run("restore", "todo.txt")
    assert out.startswith("Restored"), out
    assert (folder / "todo.txt").read_text() == "buy milk\n"
    assert git(folder, "rev-list", "--count", "HEAD").strip() == "3"
    assert git(folder, "show", "HEAD:todo.txt") == "buy milk\n"
    assert git(folder, "rev-parse", "HEAD~1").strip() == commits[0][0]
    assert git(folder, "status", "--porcelain") == ""
    fsck_clean(folder)
