"""The web server inside ``gitsync run``: uvicorn on a thread of the daemon process.

The daemon starts it after its workers and stops it before them. The socket is bound here,
before the thread starts, so a taken port is known at once: the daemon logs one line and
keeps syncing without the pages. uvicorn runs quiet (warnings only, no access log), without
signal handlers (the daemon owns SIGINT/SIGTERM) and without proxy headers (an
``X-Forwarded-*`` header never changes what the server believes).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from gitsync.config import Paths
from gitsync.events import EventBus
from gitsync.server.app import create_app
from gitsync.server.context import ServerContext
from gitsync.server.session import (
    clear_address,
    read_or_create_token,
    url_host,
    write_address,
)
from gitsync.service import Service

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STOP_WAIT_S = 10.0


class PortInUse(OSError):
    pass


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on HOST:PORT (PORT 0: any free port)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.set_inheritable(False)
    except OSError:
        sock.close()
        raise
    return sock


class WebServer:
    """One uvicorn server on its own thread; :meth:`stop` ends open streams and joins it."""

    def __init__(self, ctx: ServerContext, sock: socket.socket, host: str) -> None:
        self.ctx = ctx
        self.host = host
        self.sock = sock
        self.app = create_app(ctx)
        # log_config=None: uvicorn's own records go through the daemon's handlers (its log
        # file), not a console handler of uvicorn's; warnings and errors only.
        config = uvicorn.Config(self.app, log_config=None, log_level="warning",
                                access_log=False, proxy_headers=False, server_header=False,
                                timeout_graceful_shutdown=3, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="gitsync-web", daemon=True)

    @property
    def port(self) -> int:
        return self.ctx.port

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException:  # SystemExit from a failed start included
            logger.exception("web: the server stopped; syncing goes on without the web pages")

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; returns once the server accepts connections (or gave up)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self.app.state.events.close()  # ends every SSE stream, so no connection lingers
        self.server.should_exit = True
        self.thread.join(STOP_WAIT_S)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(STOP_WAIT_S)
        self.sock.close()


def start_web(paths: Paths, bus: EventBus, writer: Any, *, port: int,
              listen: str | None = None,
              login_hint: str = "the link 'gitsync web' prints") -> WebServer | None:
    """Start the server for a daemon; None (after one ERROR line) if it cannot listen."""
    host = listen or LOOPBACK
    try:
        sock = bind(host, port)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            logger.error("web: port %d is in use (%s); syncing goes on without the web "
                         "pages; use --port", port, reason)
        else:
            logger.error("web: cannot listen on %s:%d (%s); syncing goes on without the web "
                         "pages", host, port, reason)
        return None
    actual_port = sock.getsockname()[1]
    if listen:
        logger.warning("web: listening on %s:%d as asked by --listen: anyone who can reach "
                       "that address and has the token can use the pages",
                       url_host(host), actual_port)
    try:
        token = read_or_create_token(paths)
        ctx = ServerContext(service=Service(paths, writer=writer), bus=bus, token=token,
                            port=actual_port, extra_hosts=(host,) if listen else ())
        server = WebServer(ctx, sock, host)
    except BaseException:
        sock.close()
        raise
    server.start()
    write_address(paths, host, actual_port)
    logger.info("web: pages at http://%s:%d/ (log in with %s)",
                url_host(host) if listen else LOOPBACK, actual_port, login_hint)
    return server


def stop_web(paths: Paths, server: WebServer) -> None:
    server.stop()
    clear_address(paths)
