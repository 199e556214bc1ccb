"""``create_app(ctx)``: the FastAPI app of the local web server.

The app is thin: :mod:`.security` guards the door, :mod:`.failures` is the one error
handler, the routers under :mod:`.routes` parse and call the service, :mod:`.pages` renders
the HTML pages, and ``web/static`` is served as it is. Everything reaches the daemon through
``app.state.ctx`` (a :class:`ServerContext`).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from gitsync import __version__
from gitsync.server import failures, login, pages
from gitsync.server.context import ServerContext
from gitsync.server.eventlog import EventLog
from gitsync.server.routes import conflicts, events, folders, history
from gitsync.server.security import Guard, allowed_hosts
from gitsync.server.session import csrf_value

__all__ = ["ServerContext", "create_app", "csrf_token"]


WEB_THREADS = 2


def create_app(ctx: ServerContext) -> FastAPI:
    log = EventLog(ctx.bus)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Routes run on anyio's thread pool (40 threads by default). In the daemon's process
        # every one of them competes for the GIL with the folders' workers; a burst of page
        # loads must not delay a save on its way to the other devices, so the pages get a
        # few threads and the workers keep their share. A worker waking from I/O waits for
        # the running thread to hand over the GIL: 1 ms instead of Python's 5 ms.
        anyio.to_thread.current_default_thread_limiter().total_tokens = WEB_THREADS
        sys.setswitchinterval(0.001)
        yield
        log.close()

    # No /docs: its page loads script from a CDN, which the strict CSP (rightly) blocks and
    # which would not work offline anyway. The schema is at /openapi.json.
    app = FastAPI(title="gitsync", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.ctx = ctx
    app.state.events = log
    failures.install(app)
    app.include_router(login.router)
    for module in (folders, history, conflicts, events):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=ctx.web_dir / "static", check_dir=False),
              name="static")
    app.add_middleware(Guard, token=ctx.token,
                       hosts=allowed_hosts(ctx.port, ctx.extra_hosts))
    return app


def csrf_token(request: Request) -> str:
    """The CSRF token a page puts in ``<meta name="csrf-token">`` for its scripts."""
    ctx: ServerContext = request.app.state.ctx
    return csrf_value(ctx.token)
