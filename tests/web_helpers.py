"""Builders for the web server's tests: an app over a real service, a logged-in client, a
real uvicorn server on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gitsync.config import Paths, folder_key
from gitsync.events import EventBus
from gitsync.server.app import create_app
from gitsync.server.context import ServerContext
from gitsync.server.runner import LOOPBACK, WebServer, bind
from gitsync.server.session import csrf_value
from gitsync.service import Service

TOKEN = "test-token-0123456789-abcdefghijklmnopqrstuv"
PORT = 8484
CSRF = csrf_value(TOKEN)
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def make_ctx(*, port: int = PORT, bus: EventBus | None = None, **extra: Any) -> ServerContext:
    return ServerContext(service=Service(Paths.discover()), bus=bus or EventBus(),
                         token=TOKEN, port=port, **extra)


def client(ctx: ServerContext | None = None, *, host: str = "127.0.0.1") -> TestClient:
    """A TestClient whose requests carry Host 127.0.0.1:PORT (not 'testserver')."""
    ctx = ctx or make_ctx()
    return TestClient(create_app(ctx), base_url=f"http://{host}:{ctx.port}",
                      follow_redirects=False)


def log_in(c: TestClient) -> TestClient:
    r = c.get(f"/login?token={TOKEN}")
    assert r.status_code == 303, r.text
    return c


def write_headers(port: int = PORT) -> dict[str, str]:
    """What a page's script sends with a write: the CSRF token and its own origin."""
    return {"X-CSRF-Token": CSRF, "Origin": f"http://127.0.0.1:{port}"}


def folder_id(path: Path) -> str:
    return folder_key(path.resolve())


@contextlib.contextmanager
def live_server(bus: EventBus | None = None) -> Iterator[WebServer]:
    """A real uvicorn server on a free port of 127.0.0.1, stopped when the block ends."""
    sock = bind(LOOPBACK, 0)
    ctx = make_ctx(port=sock.getsockname()[1], bus=bus)
    server = WebServer(ctx, sock, LOOPBACK)
    server.start()
    try:
        assert server.server.started
        yield server
    finally:
        server.stop()
    assert not server.thread.is_alive()


def error_of(r: Any) -> dict[str, str]:
    """The error of a response in the one error shape, checked to be exactly that shape."""
    doc = r.json()
    assert set(doc) == {"error"}, doc
    assert set(doc["error"]) == {"code", "message"}, doc
    assert isinstance(doc["error"]["code"], str) and isinstance(doc["error"]["message"], str)
    assert "Traceback" not in r.text and 'File "' not in r.text
    return doc["error"]  # type: ignore[no-any-return]
