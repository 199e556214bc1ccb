"""Running the server: binding, a taken port, the address file, and ``gitsync web``."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gitsync.config import Paths
from gitsync.events import EventBus
from gitsync.server.runner import start_web, stop_web
from gitsync.server.session import (
    login_url,
    read_address,
    read_or_create_token,
    token_path,
)
from tests.helpers import run_proc


@pytest.fixture
def taken_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock, sock.getsockname()[1]  # type: ignore[misc]
    sock.close()


def test_a_taken_port_is_one_error_line_and_no_server(taken_port: tuple[socket.socket, int],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    _, port = taken_port
    paths = Paths.discover()
    before = set(threading.enumerate())
    with caplog.at_level(logging.INFO):
        server = start_web(paths, EventBus(), None, port=port)
    assert server is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith(
        f"web: port {port} is in use (Address already in use); syncing goes on without "
        "the web pages; use --port")
    assert set(threading.enumerate()) == before
    assert read_address(paths) is None


def test_the_server_writes_its_address_and_removes_it_at_stop() -> None:
    paths = Paths.discover()
    server = start_web(paths, EventBus(), None, port=0)
    assert server is not None
    try:
        doc = read_address(paths)
        assert doc == {"pid": os.getpid(), "host": "127.0.0.1", "port": server.port}
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass
    finally:
        stop_web(paths, server)
    assert read_address(paths) is None
    assert not server.thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_listen_warns_and_accepts_its_own_host(caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    paths = Paths.discover()
    with caplog.at_level(logging.WARNING):
        server = start_web(paths, EventBus(), None, port=0, listen="127.0.0.2")
    assert server is not None
    try:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "--listen" in warnings[0] and "127.0.0.2" in warnings[0]
        token = read_or_create_token(paths)
        r = httpx.get(f"http://127.0.0.2:{server.port}/openapi.json",
                      headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert r.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{server.port}/openapi.json", timeout=2)
    finally:
        stop_web(paths, server)


def test_the_token_file_is_private_created_once_and_replaced_if_broken() -> None:
    paths = Paths.discover()
    token = read_or_create_token(paths)
    path = token_path(paths)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 40 and read_or_create_token(paths) == token
    path.chmod(0o644)
    assert read_or_create_token(paths) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short\n")
    fresh = read_or_create_token(paths)
    assert fresh != token and len(fresh) >= 40
    assert [p.name for p in path.parent.iterdir() if "web-token" in p.name] == ["web-token"]


def test_concurrent_first_uses_agree_on_one_token() -> None:
    paths = Paths.discover()
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(read_or_create_token(paths)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1


# ------------------------------------------------------------------ gitsync web

def test_web_without_a_daemon_prints_the_url_and_says_run_must_be_running(
        sealed_env: Path) -> None:
    r = run_proc("web", "--no-open")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    token = read_or_create_token(Paths.discover())
    assert lines[0] == login_url(token, 8484)
    assert len(lines) == 2 and "gitsync run" in lines[1]
    assert stat.S_IMODE(token_path(Paths.discover()).stat().st_mode) == 0o600
    assert run_proc("web", "--no-open").stdout.splitlines()[0] == lines[0]


def test_web_uses_the_port_setting(sealed_env: Path) -> None:
    config = sealed_env / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[settings]\nport = 9123\n")
    r = run_proc("web", "--no-open")
    assert r.stdout.startswith("http://127.0.0.1:9123/login?token="), r.stdout


@pytest.mark.parametrize("display", [True, False], ids=["display", "no-display"])
def test_web_opens_the_browser_only_where_there_is_one(tmp_path: Path, display: bool) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}\n")
    browser.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["BROWSER"] = str(browser)
    if display:
        env["DISPLAY"] = ":99"
    r = subprocess.run([sys.executable, "-m", "gitsync", "web"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    url = r.stdout.splitlines()[0]
    if display:
        assert opened.read_text() == url
    else:
        assert not opened.exists()


WRAPPER = """
import sys
from gitsync.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        fh.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""
WEB_FRAMEWORK = ("fastapi", "starlette", "uvicorn", "pydantic", "jinja2")


@pytest.mark.parametrize("args", [["web", "--no-open"], ["--help"], ["run", "--help"],
                                  ["web", "--help"], ["status"]])
def test_the_cli_never_loads_the_web_framework_outside_run(tmp_path: Path,
                                                           args: list[str]) -> None:
    listing = tmp_path / "modules.txt"
    r = subprocess.run([sys.executable, "-c", WRAPPER, str(listing), *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    modules = set(listing.read_text().split())
    assert not [m for m in modules if m.split(".")[0] in WEB_FRAMEWORK]
