"""Errors as HTTP: one shape, ``{"error": {"code", "message"}}``, one status per kind.

Every refusal the server makes (bad Host, no session, no CSRF token), every
:class:`GitsyncError` a route lets through, every invalid request and every bug leaves in
this shape. A bug is logged with its traceback and shown only as "internal error".
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gitsync.errors import GitsyncError, NotFoundError, PathError, RevisionError, UserError
from gitsync.service import FolderBusyError

logger = logging.getLogger(__name__)

# Checked in order: the first class the error is an instance of decides. NotFoundError comes
# first because a "no such file at that revision" may also be a PathError.
STATUSES: tuple[tuple[tuple[type[GitsyncError], ...], int, str], ...] = (
    ((NotFoundError,), 404, "not_found"),
    ((FolderBusyError,), 409, "busy"),
    ((PathError,), 400, "bad_path"),
    ((RevisionError,), 400, "bad_revision"),
    ((UserError,), 400, "bad_request"),
    ((GitsyncError,), 500, "failed"),
)
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "busy"}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def describe(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, message) for any exception; the one place that decides."""
    if isinstance(exc, GitsyncError):
        for classes, status, code in STATUSES:
            if isinstance(exc, classes):
                return status, code, str(exc)
    if isinstance(exc, RequestValidationError):
        return 400, "bad_request", _validation_message(exc)
    if isinstance(exc, HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "error")
        return exc.status_code, code, str(exc.detail)
    return 500, "internal", "internal error"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        # The message only, never the input: it may be large or hostile.
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else
                     str(err.get("msg", "invalid")))
    return "invalid request: " + "; ".join(parts) if parts else "invalid request"


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler of the app."""
    status, code, message = describe(exc)
    if status >= 500 and code == "internal":
        logger.error("web: %s %s failed", request.method, request.url.path, exc_info=exc)
    elif status >= 500:
        logger.warning("web: %s %s: %s", request.method, request.url.path, message)
    headers = getattr(exc, "headers", None) if isinstance(exc, HTTPException) else None
    return error_response(status, code, message, headers=headers)


def install(app: FastAPI) -> None:
    for exc_class in (GitsyncError, RequestValidationError, HTTPException):
        app.add_exception_handler(exc_class, handle_error)  # type: ignore[arg-type]
