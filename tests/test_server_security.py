"""The web server's door, one test per promise: tokens, Host, CSRF and Origin, headers, CORS.

Each request goes through the real app (FastAPI's TestClient, with the Host header of
127.0.0.1:8484 unless a test says otherwise); the service behind it is the real one over
this test's gitsync home.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from gitsync.server.app import create_app, csrf_token
from gitsync.server.security import CSP
from gitsync.server.session import COOKIE, session_value
from tests.helpers import init_folder
from tests.web_helpers import (
    BEARER,
    CSRF,
    PORT,
    TOKEN,
    client,
    error_of,
    folder_id,
    log_in,
    make_ctx,
    write_headers,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "hello\n"})
    return d


# ------------------------------------------------------------------ authentication

@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/folders"),
    ("GET", "/openapi.json"),
    ("GET", "/api/events"),
    ("GET", "/api/folders/x/history"),
    ("POST", "/api/folders/x/sync"),
    ("GET", "/static/app.css"),
])
def test_no_session_is_401_in_the_error_shape(method: str, path: str) -> None:
    r = client().request(method, path)
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"


@pytest.mark.parametrize("path", ["/", "/folders/x", "/conflicts"])
def test_a_page_without_session_redirects_to_the_login_help(path: str) -> None:
    c = client()
    r = c.get(path)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = c.get("/login")
    assert page.status_code == 401
    assert "gitsync web" in page.text and "text/html" in page.headers["content-type"]


def test_login_sets_a_strict_httponly_cookie_and_redirects_to_the_dashboard() -> None:
    c = client()
    r = c.get(f"/login?token={TOKEN}")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert cookie.startswith(f"{COOKIE}=")
    assert {"httponly", "samesite=strict", "path=/"} <= attrs
    assert TOKEN not in cookie  # the cookie is derived from the token, never the token
    assert c.get("/api/folders").status_code == 200
    assert c.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("bad", [TOKEN[:-1], TOKEN + "x", "x" * len(TOKEN), "", "%00",
                                 session_value(TOKEN)])
def test_a_wrong_token_is_401_and_says_nothing_else(bad: str) -> None:
    c = client()
    r = c.get("/login", params={"token": bad})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers
    assert TOKEN not in r.text and (not bad or bad not in r.text)
    # Every wrong token gets the very same answer: nothing tells how close it was.
    assert r.text == c.get("/login", params={"token": "other"}).text
    assert c.get("/api/folders").status_code == 401


def test_bearer_token_works_and_a_wrong_one_is_refused() -> None:
    c = client()
    assert c.get("/api/folders", headers=BEARER).status_code == 200
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "):
        r = c.get("/api/folders", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert error_of(r)["code"] == "unauthorized"


def test_a_forged_or_stale_cookie_is_refused() -> None:
    c = client()
    for value in ("", TOKEN, session_value(TOKEN + "x"), session_value(TOKEN)[:-1]):
        c.cookies.set(COOKIE, value)
        assert c.get("/api/folders").status_code == 401, value


def test_the_session_survives_other_local_apps_cookies() -> None:
    # Cookies are kept per host, not per port: another app on 127.0.0.1 adds its own, in
    # forms a strict parser rejects.
    c = client()
    header = (f'other="unterminated; theme={{"dark":true}}; {COOKIE}={session_value(TOKEN)}; '
              "x=[1,2]")
    assert c.get("/api/folders", headers={"Cookie": header}).status_code == 200


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from gitsync.server import session

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(session.hmac, "compare_digest", spy)
    c = client()
    c.get("/login", params={"token": "wrong"})
    c.get("/api/folders", headers={"Authorization": "Bearer wrong"})
    assert (b"wrong", TOKEN.encode()) in calls
    assert len(calls) >= 2


# ------------------------------------------------------------------ Host

@pytest.mark.parametrize("host", [f"evil.com:{PORT}", "evil.com", f"127.0.0.1:{PORT + 1}",
                                  "127.0.0.1", f"localhost.evil.com:{PORT}",
                                  f"127.0.0.1:{PORT}.evil.com", f"0.0.0.0:{PORT}", ""])
def test_a_foreign_host_is_refused_even_with_a_valid_token(host: str) -> None:
    # DNS rebinding: a page on evil.com whose name now resolves to 127.0.0.1 sends
    # Host: evil.com:PORT; it must get nothing, whatever credential it holds.
    r = client().get("/api/folders", headers={**BEARER, "Host": host})
    assert r.status_code == 400
    assert error_of(r)["code"] == "bad_host"


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}",
                                  f"LOCALHOST:{PORT}", f"[::1]:{PORT}"])
def test_loopback_hosts_at_the_port_are_accepted(host: str) -> None:
    assert client().get("/api/folders", headers={**BEARER, "Host": host}).status_code == 200


def test_the_listen_address_is_accepted_only_when_listening_there() -> None:
    host = f"192.168.7.9:{PORT}"
    assert client().get("/api/folders", headers={**BEARER, "Host": host}).status_code == 400
    c = client(make_ctx(extra_hosts=("192.168.7.9",)))
    assert c.get("/api/folders", headers={**BEARER, "Host": host}).status_code == 200


def test_x_forwarded_headers_are_ignored() -> None:
    c = client()
    forwarded = {"X-Forwarded-Host": f"127.0.0.1:{PORT}", "X-Forwarded-Proto": "https",
                 "X-Forwarded-For": "127.0.0.1", "Forwarded": f"host=127.0.0.1:{PORT}"}
    # A foreign Host is not made good by a forwarded one...
    r = c.get("/api/folders", headers={**BEARER, **forwarded, "Host": f"evil.com:{PORT}"})
    assert r.status_code == 400
    # ...and a forwarded foreign host changes nothing for a good one: the redirect stays
    # on this site.
    r = c.get(f"/login?token={TOKEN}", headers={"X-Forwarded-Host": "evil.com",
                                                "X-Forwarded-Proto": "https"})
    assert r.status_code == 303 and r.headers["location"] == "/"


# ------------------------------------------------------------------ CSRF and Origin

def test_cross_site_post_with_the_cookie_but_no_csrf_token_is_403_whatever_the_body(
        folder: Path) -> None:
    c = log_in(client())
    fid = folder_id(folder)
    for body in (b"{not json", b"", b'{"path": "notes.txt", "rev": "HEAD"}'):
        r = c.post(f"/api/folders/{fid}/restore", content=body,
                   headers={"Origin": "https://evil.com", "Content-Type": "application/json"})
        assert r.status_code == 403, r.text
        assert error_of(r)["code"] == "forbidden"
    r = c.post(f"/api/folders/{fid}/sync", headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert r.status_code == 403


@pytest.mark.parametrize("origin", ["https://evil.com", "http://evil.com:8484", "null",
                                    f"https://127.0.0.1:{PORT}", f"http://127.0.0.1:{PORT + 1}",
                                    f"http://localhost:{PORT}"])
def test_a_write_from_another_origin_is_403_even_with_the_csrf_token(origin: str,
                                                                     folder: Path) -> None:
    c = log_in(client())
    r = c.post(f"/api/folders/{folder_id(folder)}/pause",
               headers={"X-CSRF-Token": CSRF, "Origin": origin})
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"


def test_a_cookie_write_needs_a_same_origin_origin_or_referer(folder: Path) -> None:
    c = log_in(client())
    url = f"/api/folders/{folder_id(folder)}/history"  # any path: the guard answers first
    post = f"/api/folders/{folder_id(folder)}/pause"
    assert c.get(url).status_code == 200
    assert c.post(post, headers={"X-CSRF-Token": CSRF}).status_code == 403
    r = c.post(post, headers={"X-CSRF-Token": CSRF,
                              "Referer": f"http://evil.com/?http://127.0.0.1:{PORT}/"})
    assert r.status_code == 403
    r = c.post(post, headers={"X-CSRF-Token": CSRF, "Referer": f"http://127.0.0.1:{PORT}/x"})
    assert r.status_code != 403


def test_a_wrong_csrf_token_is_403(folder: Path) -> None:
    c = log_in(client())
    for token in ("", CSRF[:-1], TOKEN, session_value(TOKEN)):
        r = c.post(f"/api/folders/{folder_id(folder)}/pause",
                   headers={**write_headers(), "X-CSRF-Token": token})
        assert r.status_code == 403, token


def test_a_good_write_passes_and_a_bearer_write_needs_no_csrf(folder: Path) -> None:
    c = log_in(client())
    r = c.post("/api/folders/no-such-folder/sync", headers=write_headers())
    assert r.status_code == 404, r.text  # past the door, refused by the service
    bare = client()
    r = bare.post("/api/folders/no-such-folder/sync", headers=BEARER)
    assert r.status_code == 404, r.text


def test_the_guard_refuses_before_reading_the_body() -> None:
    app = client().app
    read: list[str] = []

    async def receive() -> dict[str, Any]:
        read.append("body")
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/folders/x/restore",
             "raw_path": b"/api/folders/x/restore", "query_string": b"",
             "root_path": "", "scheme": "http", "http_version": "1.1",
             "server": ("127.0.0.1", PORT), "client": ("127.0.0.1", 50000),
             "headers": [(b"host", f"127.0.0.1:{PORT}".encode()),
                         (b"cookie", f"{COOKIE}={session_value(TOKEN)}".encode()),
                         (b"content-type", b"application/json"),
                         (b"origin", b"https://evil.com")]}
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 403
    assert read == []


def test_the_page_gets_the_csrf_token_for_its_scripts() -> None:
    ctx = make_ctx()
    app = create_app(ctx)
    seen: dict[str, str] = {}

    @app.get("/probe")
    def probe(request: Request) -> dict[str, str]:
        seen["helper"] = csrf_token(request)
        seen["state"] = request.state.csrf
        return {}

    c = TestClient(app, base_url=f"http://127.0.0.1:{PORT}")
    assert c.get("/probe", headers=BEARER).status_code == 200
    assert seen == {"helper": CSRF, "state": CSRF}


# ------------------------------------------------------------------ headers, CORS

def test_every_response_carries_the_security_headers(folder: Path) -> None:
    c = client()
    responses = [
        c.get("/api/folders"),  # 401
        c.get("/api/folders", headers={"Host": "evil.com"}),  # 400
        c.get("/"),  # 303
        c.get("/login"),  # 401 page
        c.get(f"/login?token={TOKEN}"),  # 303 with cookie
        c.get("/api/folders"),  # 200
        c.get("/api/folders/nope/history"),  # 404
        c.get(f"/api/folders/{folder_id(folder)}/history?limit=0"),  # 400
        c.post("/api/folders/nope/sync"),  # 403
        c.get(f"/api/folders/{folder_id(folder)}/file?path=notes.txt"),  # 200 bytes
    ]
    assert [r.status_code for r in responses] == [401, 400, 303, 401, 303, 200, 404, 400,
                                                  403, 200]
    for r in responses:
        assert r.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert not any(h.lower().startswith("access-control-") for h in r.headers)
        assert r.headers["cache-control"] == "no-store"


def test_no_cors_preflight_is_granted() -> None:
    c = client()
    r = c.options("/api/folders", headers={
        "Origin": "https://evil.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-csrf-token"})
    assert r.status_code in (401, 405)
    assert not any(h.lower().startswith("access-control-") for h in r.headers)
    r = c.get("/api/folders", headers={**BEARER, "Origin": "https://evil.com"})
    assert "access-control-allow-origin" not in r.headers


def test_static_files_need_the_session_and_carry_the_headers(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("body { margin: 0 }\n")
    c = client(make_ctx(web_dir=tmp_path))
    assert c.get("/static/app.css").status_code == 401
    r = c.get("/static/app.css", headers=BEARER)
    assert r.status_code == 200 and r.text == "body { margin: 0 }\n"
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-cache"
    assert c.get("/static/../pyproject.toml", headers=BEARER).status_code == 404
