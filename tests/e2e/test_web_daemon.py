"""The web server inside a real `gitsync run`: the link `gitsync web` prints logs a client
in, the API answers and writes through the folder's worker, live events arrive, a taken
port costs the pages and nothing else, and the daemon stops cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gitsync.config import Paths
from gitsync.server.session import address_path, csrf_value, read_or_create_token
from tests.helpers import git, gitsync_exe, init_folder, run_proc, wait_for
from tests.web_helpers import folder_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDaemon:
    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self.fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*gitsync_exe(), "run", *args], stdout=self.fh,
                                     stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.fh.close()


@contextlib.contextmanager
def web_daemon(tmp_path: Path, *args: str) -> Iterator[WebDaemon]:
    d = WebDaemon(tmp_path / "daemon.log", *args)
    try:
        assert wait_for(lambda: "running" in d.output() or d.proc.poll() is not None, 30), \
            d.output()
        assert d.proc.poll() is None, d.output()
        yield d
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)
        if not d.fh.closed:
            d.fh.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "v1\n"})
    return d


def test_the_printed_link_logs_in_and_the_api_works_through_the_daemon(
        tmp_path: Path, docs: Path) -> None:
    port = free_port()
    with web_daemon(tmp_path, "--port", str(port)) as d:
        r = run_proc("web", "--no-open")
        assert r.returncode == 0, r.stderr
        [url] = r.stdout.splitlines()  # the daemon runs and serves: the link, nothing else
        assert url.startswith(f"http://127.0.0.1:{port}/login?token=")
        with httpx.Client(timeout=20) as h:
            first = h.get(url)
            assert first.status_code == 303 and first.headers["location"] == "/"
            assert "gitsync_session" in h.cookies
            h.get(url, follow_redirects=True)  # the dashboard (whatever pages serve)
            folders = h.get(f"http://127.0.0.1:{port}/api/folders").json()["folders"]
            assert [f["id"] for f in folders] == [folder_id(docs)]
            assert folders[0]["state"] not in ("stopped",)

            # A save shows in the live feed.
            base = f"http://127.0.0.1:{port}"
            with h.stream("GET", f"{base}/api/events") as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line == ": connected")
                (docs / "notes.txt").write_text("v2\n")
                kinds = []
                deadline = time.monotonic() + 30
                for line in lines:
                    if line.startswith("data: "):
                        kinds.append(json.loads(line[6:])["kind"])
                        if "committed" in kinds or time.monotonic() > deadline:
                            break
            assert "committed" in kinds, kinds
            assert wait_for(lambda: git(docs, "show", "HEAD:notes.txt") == "v2\n", 15)

            # A write from the page goes to the folder's worker in the daemon.
            first_commit = git(docs, "rev-list", "--max-parents=0", "HEAD").strip()
            token = read_or_create_token(Paths.discover())
            r2 = h.post(f"{base}/api/folders/{folder_id(docs)}/restore",
                        json={"path": "notes.txt", "rev": first_commit},
                        headers={"X-CSRF-Token": csrf_value(token), "Origin": base})
            assert r2.status_code == 200, r2.text
            assert (docs / "notes.txt").read_text() == "v1\n"
            assert r2.json()["commit"]["id"] == git(docs, "rev-parse", "HEAD").strip()
            assert "running 'restore' for a command" in d.output()
        start = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - start < 15
    out = d.output()
    assert "Traceback" not in out and "ERROR" not in out, out
    assert not address_path(Paths.discover()).exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/folders", timeout=2)


def test_a_taken_port_costs_the_pages_only(tmp_path: Path, docs: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with web_daemon(tmp_path, "--port", str(port)) as d:
            lines = [ln for ln in d.output().splitlines() if "web:" in ln]
            assert len(lines) == 1, d.output()
            assert lines[0].endswith(f"web: port {port} is in use (Address already in use); "
                                     "syncing goes on without the web pages; use --port")
            (docs / "notes.txt").write_text("still synced\n")
            assert wait_for(lambda: git(docs, "show", "HEAD:notes.txt") == "still synced\n",
                            20), d.output()
            r = run_proc("web", "--no-open")
            assert "serves no web pages" in r.stdout
            assert d.stop() == 0
    assert "Traceback" not in d.output()


def test_no_web_serves_nothing_and_listen_warns(tmp_path: Path, docs: Path) -> None:
    port = free_port()
    with web_daemon(tmp_path, "--port", str(port), "--no-web") as d:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/api/folders", timeout=2)
        assert "web:" not in d.output()
        assert d.stop() == 0
    os.remove(tmp_path / "daemon.log")
    with web_daemon(tmp_path, "--port", str(port), "--listen", "127.0.0.2") as d:
        warnings = [ln for ln in d.output().splitlines() if "--listen" in ln]
        assert len(warnings) == 1 and "127.0.0.2" in warnings[0]
        [url] = run_proc("web", "--no-open").stdout.splitlines()
        assert url.startswith(f"http://127.0.0.2:{port}/login?token=")
        with httpx.Client(timeout=10) as h:
            assert h.get(url).status_code == 303
            r = h.get(f"http://127.0.0.2:{port}/api/folders")
        assert r.status_code == 200 and len(r.json()["folders"]) == 1
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/api/folders", timeout=2)
        assert d.stop() == 0
