"""The door: Host check, authentication, CSRF and Origin, security headers, last-resort errors.

A pure ASGI middleware, so every check runs before a route is chosen and before a byte of
the body is read: a cross-site POST is refused with 403 whatever its body (never 422).

- Host must be ``127.0.0.1:PORT``, ``localhost:PORT`` or ``[::1]:PORT`` (or the ``--listen``
  address at PORT): a DNS-rebinding page (``evil.example:PORT`` resolving to 127.0.0.1) is
  refused. ``X-Forwarded-*`` headers are never read (uvicorn runs with proxy headers off).
- Every request needs the session cookie or ``Authorization: Bearer TOKEN``, except
  ``/login``. ``/static/*`` needs it too: nothing is public, so another site cannot even tell
  that gitsync runs here by loading one of its files (the cookie is SameSite=Strict and never
  rides along on a cross-site load).
- A write (POST, PUT, PATCH, DELETE) with the cookie also needs ``X-CSRF-Token`` and a
  same-origin ``Origin`` (or, when a browser sends none, ``Referer``); with neither it is
  refused. A bearer request needs neither: a browser never adds that header on its own.
- No CORS: no ``Access-Control-*`` header is ever sent, so cross-origin reads stay blocked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitsync.server import failures
from gitsync.server.session import COOKIE, csrf_value, same, session_value

logger = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/login"})


def allowed_hosts(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    names = ["127.0.0.1", "localhost", "[::1]"]
    for host in extra:
        names.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    hosts = {f"{n}:{port}".lower() for n in names}
    if port == 80:
        hosts |= {n.lower() for n in names}
    return frozenset(hosts)


class Guard:
    def __init__(self, app: ASGIApp, *, token: str, hosts: frozenset[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.session = session_value(token)
        self.csrf = csrf_value(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        started = False
        static = scope.get("path", "").startswith("/static/")

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in _OURS]
                headers.extend(SECURITY_HEADERS)
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    # Answers hold the user's files and history: never kept on disk. Our
                    # own static files may be, checked again on each use.
                    headers.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        refusal = self.check(scope)
        if refusal is not None:
            await _respond(scope, receive, send_secured, *refusal)
            return
        try:
            await self.app(scope, receive, send_secured)
        except Exception as exc:
            status, code, message = failures.describe(exc)
            if status >= 500:
                logger.error("web: %s %s failed", scope.get("method"), scope.get("path"),
                             exc_info=exc)
            if not started:
                await _respond(scope, receive, send_secured,
                               (status, code, message), None)

    def check(self, scope: Scope) -> tuple[tuple[int, str, str], str | None] | None:
        """None to let the request in, else ((status, code, message), redirect)."""
        headers = _headers(scope)
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return (400, "bad_host", "invalid Host header"), None
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        if path in PUBLIC_PATHS:
            return None
        auth = self._authenticate(headers)
        if auth is None:
            if method in ("GET", "HEAD") and _is_page(path):
                return (303, "unauthorized", "log in first"), "/login"
            return (401, "unauthorized", "not logged in: open the link 'gitsync web' prints, "
                    "or send Authorization: Bearer TOKEN"), None
        scope.setdefault("state", {})["csrf"] = self.csrf
        if method in SAFE_METHODS or auth == "bearer":
            return None
        if not same(headers.get("x-csrf-token"), self.csrf):
            return (403, "forbidden", "missing or wrong X-CSRF-Token header"), None
        origin = headers.get("origin")
        if origin is not None:
            if origin.lower() != f"http://{host}":
                return (403, "forbidden", "cross-origin request refused"), None
        else:
            referer = headers.get("referer", "").lower()
            if not referer.startswith(f"http://{host}/"):
                return (403, "forbidden", "request without a same-origin Origin refused"), None
        return None

    def _authenticate(self, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            # A wrong bearer token is a failure even with a good cookie: a script that
            # sends one expects it to be the credential checked.
            if scheme.lower() == "bearer" and same(value.strip(), self.token):
                return "bearer"
            return None
        cookie = headers.get("cookie")
        # Lenient parsing: cookies are per host, not per port, so the header also carries
        # whatever other local web apps set for 127.0.0.1, which may not parse strictly.
        if cookie and same(cookie_parser(cookie).get(COOKIE), self.session):
            return "cookie"
        return None


_OURS = frozenset(k for k, _ in SECURITY_HEADERS)


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        name = k.decode("latin-1").lower()
        if name in out:  # two Host or two Origin headers: keep the first, never merge
            continue
        out[name] = v.decode("latin-1")
    return out


def _is_page(path: str) -> bool:
    return not (path.startswith(("/api/", "/static/")) or path in ("/api", "/openapi.json"))


async def _respond(scope: Scope, receive: Receive, send: Send,
                   refusal: tuple[int, str, str], location: str | None) -> None:
    status, code, message = refusal
    response: Any
    if location is not None:
        from starlette.responses import RedirectResponse

        response = RedirectResponse(location, status_code=status)
    else:
        response = failures.error_response(status, code, message)
    await response(scope, receive, send)
