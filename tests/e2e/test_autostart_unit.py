"""The systemd unit run by hand: this container has no user service manager (systemd is
not PID 1 here, so `systemd --user` cannot start), so the test plays systemd's part for
exactly what the unit says: it starts ExecStart= with the unit's Environment=, kills the
daemon with -9, and, as Restart=on-failure prescribes for a death by signal, starts it again
after RestartSec=. What is checked is gitsync's side: the unit's command line runs the
installed gitsync on the right home, and a daemon killed with -9 comes back and goes on
committing with no stale lock in its way."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from gitsync.autostart import systemd
from tests.helpers import commit_count, git, init_folder, wait_for


def unit_fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and not line.startswith("["):
            out[key] = value
    return out


def start(fields: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if "Environment" in fields:
        key, _, value = shlex.split(fields["Environment"])[0].partition("=")
        env[key] = value
    argv = shlex.split(fields["ExecStart"])
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_the_unit_starts_the_daemon_and_a_kill_9_is_survived(tmp_path: Path,
                                                               sealed_env: Path) -> None:
    folder = tmp_path / "Notes"
    init_folder(folder, {"a.txt": "one\n"})
    exe = Path(sys.executable).parent / "gitsync"
    assert exe.is_file()
    fields = unit_fields(systemd.unit_text([str(exe), "run", "--no-web"],
                                           str(sealed_env)))
    assert fields["Restart"] == "on-failure"
    log = tmp_path / "daemon.log"
    fh = open(log, "ab")  # noqa: SIM115 - closed at the end
    proc = start(fields, fh)
    try:
        assert wait_for(lambda: "running" in log.read_text(errors="replace"), 30), \
            log.read_text()
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(10)
        assert code == -signal.SIGKILL  # a death by signal: on-failure restarts it
        (folder / "a.txt").write_text("saved while gitsync was down\n")
        time.sleep(float(fields["RestartSec"]))
        before = commit_count(folder)
        proc = start(fields, fh)
        assert wait_for(lambda: commit_count(folder) > before, 30), log.read_text()
        assert git(folder, "show", "HEAD:a.txt") == "saved while gitsync was down\n"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        fh.close()
