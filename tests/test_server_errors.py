"""One error shape for every failure, across routes and causes, with a human message and no
traceback: ``{"error": {"code", "message"}}``, one status per kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gitsync.errors import RemoteError
from gitsync.service import FolderBusyError
from tests.helpers import init_folder
from tests.web_helpers import BEARER, client, error_of, folder_id, make_ctx


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "one\n"})
    return d


def test_every_failure_has_the_one_shape_and_its_status(docs: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    ctx = make_ctx()
    c = client(ctx)
    c.headers.update(BEARER)
    fid = folder_id(docs)
    cases: list[tuple[str, Any, int, str]] = [
        ("unknown folder", lambda: c.get("/api/folders/nope/history"), 404, "not_found"),
        ("unknown folder (write)", lambda: c.post("/api/folders/nope/sync"), 404,
         "not_found"),
        ("missing file", lambda: c.get(f"/api/folders/{fid}/file?path=missing.txt"), 404,
         "not_found"),
        ("unknown conflict", lambda: c.get(f"/api/folders/{fid}/conflicts/0123456789abcdef"),
         404, "not_found"),
        ("hostile path", lambda: c.get(f"/api/folders/{fid}/file?path=../x"), 400,
         "bad_path"),
        ("bad revision", lambda: c.get(f"/api/folders/{fid}/tree?rev=nosuchrev"), 400,
         "bad_revision"),
        ("bad parameter", lambda: c.get(f"/api/folders/{fid}/history?limit=abc"), 400,
         "bad_request"),
        ("missing parameter", lambda: c.get(f"/api/folders/{fid}/file"), 400, "bad_request"),
        ("invalid JSON", lambda: c.post(f"/api/folders/{fid}/restore", content=b"{x",
                                        headers={"Content-Type": "application/json"}),
         400, "bad_request"),
        ("unknown route", lambda: c.get("/api/nothing"), 404, "not_found"),
        ("wrong method", lambda: c.delete("/api/folders"), 405, "method_not_allowed"),
        ("not logged in", lambda: client().get("/api/folders"), 401, "unauthorized"),
        ("cross-site write", lambda: client().post(
            "/api/folders/x/sync", headers={"Cookie": "gitsync_session=x"}), 401,
         "unauthorized"),
        ("bad host", lambda: c.get("/api/folders", headers={"Host": "evil.com"}), 400,
         "bad_host"),
    ]
    for name, call, status, code in cases:
        r = call()
        assert r.status_code == status, (name, r.status_code, r.text)
        err = error_of(r)
        assert err["code"] == code, (name, err)
        assert err["message"] and "\n" not in err["message"], (name, err)
        assert r.headers["content-type"] == "application/json", name


def test_service_errors_map_to_one_status_each(docs: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    ctx = make_ctx()
    c = client(ctx)
    c.headers.update(BEARER)
    fid = folder_id(docs)

    def raiser(exc: BaseException) -> Any:
        def fail(*_a: Any, **_k: Any) -> Any:
            raise exc
        return fail

    monkeypatch.setattr(ctx.service, "history", raiser(FolderBusyError(
        "another gitsync process is writing Docs", path=str(docs), hint="try again")))
    r = c.get(f"/api/folders/{fid}/history")
    assert r.status_code == 409
    assert error_of(r) == {"code": "busy",
                           "message": "another gitsync process is writing Docs: try again"}

    monkeypatch.setattr(ctx.service, "history", raiser(RemoteError("hub unreachable")))
    r = c.get(f"/api/folders/{fid}/history")
    assert r.status_code == 500
    assert error_of(r) == {"code": "failed", "message": "hub unreachable"}

    monkeypatch.setattr(ctx.service, "history", raiser(
        RuntimeError("secret detail /home/me/.ssh/id_rsa")))
    r = c.get(f"/api/folders/{fid}/history")
    assert r.status_code == 500
    assert error_of(r) == {"code": "internal", "message": "internal error"}
    assert "secret" not in r.text
    assert "secret detail" in caplog.text  # the bug is logged for whoever looks


def test_a_bug_after_the_response_started_is_logged_not_doubled(
        caplog: pytest.LogCaptureFixture) -> None:
    from fastapi.responses import StreamingResponse

    from gitsync.server.app import create_app

    app = create_app(make_ctx())

    @app.get("/api/broken-stream")
    def broken() -> StreamingResponse:
        def body() -> Any:
            yield b"partial"
            raise RuntimeError("mid-stream")
        return StreamingResponse(body())

    c = TestClient(app, base_url="http://127.0.0.1:8484", raise_server_exceptions=False)
    r = c.get("/api/broken-stream", headers=BEARER)
    # The status line had gone out: the body is cut short, and no second response follows.
    assert r.status_code == 200 and r.content == b"partial"
    assert "mid-stream" in caplog.text
