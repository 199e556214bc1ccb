"""Builders and checkers shared by the tests: the real git CLI is the independent judge."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gitsync import cli

ROOT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run the real git CLI and return its stdout."""
    r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def commit_count(repo: Path, ref: str = "HEAD") -> int:
    return int(git(repo, "rev-list", "--count", ref).strip())


def fsck_clean(repo: Path) -> None:
    r = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo,
                       capture_output=True, text=True)
    assert r.returncode == 0, f"git fsck failed: {r.stdout}{r.stderr}"


def run_cli(*args: str, cwd: Path | None = None, home: Path | None = None
            ) -> tuple[int, str, str]:
    """Run gitsync's CLI in-process; returns (exit code, stdout, stderr). HOME: another
    gitsync home (a second device) instead of the test's own."""
    out, err = io.StringIO(), io.StringIO()
    old_home = os.environ.get("GITSYNC_HOME")
    if home is not None:
        os.environ["GITSYNC_HOME"] = str(home)

    old = Path.cwd()
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as e:
                code = int(e.code or 0)
    finally:
        os.chdir(old)
        if home is not None and old_home is not None:
            os.environ["GITSYNC_HOME"] = old_home
    return code, out.getvalue(), err.getvalue()


def gitsync_exe() -> list[str]:
    return [sys.executable, "-m", "gitsync.cli"]


def run_proc(*args: str, cwd: Path | None = None, timeout: float = 60,
             home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run gitsync as a separate process, as a user would. HOME: another gitsync home (a
    second device) instead of the test's own."""
    env = {**os.environ, "GITSYNC_HOME": str(home)} if home is not None else None
    return subprocess.run([*gitsync_exe(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def wait_for(pred: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


class DaemonProc:
    """A real `gitsync run` process; stopped (SIGTERM, then SIGKILL) when the block ends."""

    def __init__(self, *args: str, log: Path, prefix: tuple[str, ...] = (),
                 home: Path | None = None) -> None:
        self.log = log
        self.fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        if home is not None:
            env["GITSYNC_HOME"] = str(home)
        self.proc = subprocess.Popen([*prefix, *gitsync_exe(), "run", "--no-web", *args],
                                     stdout=self.fh, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 20) -> None:
        assert wait_for(lambda: "running" in self.output() or self.proc.poll() is not None,
                        timeout), self.output()
        assert self.proc.poll() is None, f"daemon exited early:\n{self.output()}"

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.fh.close()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.fh.close()


DAEMON_LOG_TAIL = 60


@contextlib.contextmanager
def daemon(*args: str, log: Path, prefix: tuple[str, ...] = (),
           home: Path | None = None) -> Iterator[DaemonProc]:
    d = DaemonProc(*args, log=log, prefix=prefix, home=home)
    try:
        d.wait_ready()
        yield d
    finally:
        if d.proc.poll() is None:
            d.terminate()
        if not d.fh.closed:
            d.fh.close()
        # Captured by pytest and shown only when the test fails: what the daemon did.
        lines = d.output().splitlines()
        print(f"--- {log.name}: last {min(len(lines), DAEMON_LOG_TAIL)} of {len(lines)} lines")
        print("\n".join(lines[-DAEMON_LOG_TAIL:]))


def write_in_chunks(path: Path, chunks: list[bytes], pause: float) -> None:
    with open(path, "wb") as fh:
        for c in chunks:
            fh.write(c)
            fh.flush()
            time.sleep(pause)


def init_folder(folder: Path, files: dict[str, str], *, device: str = "laptop") -> Path:
    """Create FOLDER with FILES and register it (a local hub); returns the hub."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    code, out, err = run_cli("init", str(folder), "--device", device, "--json")
    assert code == 0, err
    return Path(json.loads(out)["remote"])


def two_devices(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path, Path, Path]:
    """Device A ("laptop", the test's home) with FILES pushed to its hub, and device B
    ("desktop", a second home) cloned from it; returns (a, b, hub, b's home)."""
    a, b = tmp_path / "A", tmp_path / "B"
    hub = init_folder(a, files)
    assert run_cli("sync", str(a))[0] == 0
    home_b = tmp_path / "home-b"
    code, _, err = run_cli("clone", str(hub), str(b), "--device", "desktop", home=home_b)
    assert code == 0, err
    return a, b, hub, home_b
