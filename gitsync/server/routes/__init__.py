"""The JSON API, one module per noun. A route parses, calls the service, returns a schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from gitsync.server.context import ServerContext
    from gitsync.service import Service


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def service(request: Request) -> Service:
    return context(request).service


# Documented once for the OpenAPI schema: every route may answer with the error shape.
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"description": what, "content": {"application/json": {"example": {
        "error": {"code": name, "message": "..."}}}}}
    for code, what, name in (
        (400, "bad input (a path, a revision, a parameter)", "bad_request"),
        (401, "not logged in", "unauthorized"),
        (403, "write without CSRF token or from another origin", "forbidden"),
        (404, "no such folder, file or conflict", "not_found"),
        (409, "the folder is busy with another write", "busy"),
    )
}
