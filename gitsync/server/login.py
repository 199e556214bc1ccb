"""``/login``: the one route without a session. A good token sets the cookie; anything else
gets the same small page saying where the link comes from, and nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gitsync.server.routes import context
from gitsync.server.session import COOKIE, same, session_value

router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gitsync: log in</title></head>
<body>
<main>
<h1>gitsync</h1>
<p>{message}</p>
<p>Run <code>gitsync web</code> in a terminal and open the link it prints.
<code>gitsync run</code> must be running for the link to answer.</p>
</main>
</body>
</html>
"""


@router.get("/login")
def login(request: Request, token: Annotated[str | None, Query()] = None) -> Response:
    if token is not None and same(token, context(request).token):
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict",
                            path="/")
        return response
    if token is None:
        return HTMLResponse(PAGE.format(message="This page needs the login link."),
                            status_code=401)
    return HTMLResponse(PAGE.format(message="This link does not work."), status_code=401)
