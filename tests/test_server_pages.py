"""The HTML pages through the real app and service, without a browser: each renders, hostile
names come out escaped, errors are pages with the API's statuses, and no template carries
anything a strict CSP would block. (tests/e2e/test_web_pages.py drives them in Chromium.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import ROOT, init_folder, run_cli
from tests.web_helpers import CSRF, client, folder_id, log_in

HOSTILE = "<img src=x onerror=alert(1)>.txt"
TEMPLATES = ROOT / "web" / "templates"
STATIC = ROOT / "web" / "static"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "one\ntwo\n", HOSTILE: "<script>alert(2)</script>\n"})
    (d / "sub").mkdir()
    (d / "sub" / "a.txt").write_text("in sub\n")
    (d / "notes.txt").write_text("one\ntwo changed\n")
    assert run_cli("sync", str(d))[0] == 0
    return d


@pytest.fixture
def web() -> TestClient:
    return log_in(client())


def assert_no_raw_hostile(html: str) -> None:
    assert "<img" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html


def test_every_page_renders_and_escapes_hostile_names(web: TestClient, folder: Path) -> None:
    fid = folder_id(folder)
    pages = ["/", f"/folders/{fid}", f"/folders/{fid}?dir=sub", f"/folders/{fid}/deleted",
             f"/folders/{fid}/file?path=notes.txt", f"/folders/{fid}/diff?path=notes.txt",
             f"/folders/{fid}/diff?path=notes.txt&view=inline", "/conflicts",
             f"/folders/{fid}/file?path={HOSTILE}"]
    for url in pages:
        r = web.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert f'<meta name="csrf-token" content="{CSRF}">' in r.text
        if url in ("/", f"/folders/{fid}", f"/folders/{fid}/file?path={HOSTILE}"):
            assert_no_raw_hostile(r.text)
    hist = web.get(f"/folders/{fid}/file", params={"path": HOSTILE}).text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in hist  # the content, as text


def test_the_diff_marks_words(web: TestClient, folder: Path) -> None:
    r = web.get(f"/folders/{folder_id(folder)}/diff",
                params={"path": "notes.txt", "from": "HEAD~1", "to": "HEAD"})
    assert re.search(r'<td class="t ins">two<ins> changed</ins></td>', r.text), r.text


def test_the_folder_as_it_was_shows_deleted_files(web: TestClient, folder: Path) -> None:
    (folder / "notes.txt").unlink()
    assert run_cli("sync", str(folder))[0] == 0
    fid = folder_id(folder)
    assert ">notes.txt<" not in web.get(f"/folders/{fid}").text
    past = web.get(f"/folders/{fid}", params={"rev": "HEAD~1"}).text
    assert re.search(r'<tr class="gone">\s*<th scope="row">\s*<a class="file"[^>]*>notes\.txt<',
                     past), past
    assert "deleted since" in past
    deleted = web.get(f"/folders/{fid}/deleted").text
    assert 'data-path="notes.txt"' in deleted


@pytest.mark.parametrize(("url", "status"), [
    ("/folders/nope-0000000000", 404),
    ("/folders/{fid}/file?path=../../etc/passwd", 400),
    ("/folders/{fid}/file?path=.git/config", 400),
    ("/folders/{fid}?rev=no-such-rev", 400),
    ("/folders/{fid}/conflicts/0123456789abcdef", 404),
])
def test_errors_are_pages_with_the_api_status(web: TestClient, folder: Path, url: str,
                                              status: int) -> None:
    r = web.get(url.format(fid=folder_id(folder)))
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    assert "Traceback" not in r.text and 'class="error"' in r.text


def test_no_template_or_module_has_what_a_strict_csp_blocks() -> None:
    for t in TEMPLATES.glob("*.html"):
        text = t.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), t.name
        assert not re.search(r"\sstyle\s*=", text), t.name
        assert not re.search(r"\son[a-z]+\s*=", text), t.name
        assert "http://" not in text and "https://" not in text, t.name
    for js in STATIC.glob("*.js"):
        text = js.read_text()
        # data reaches the page as text only
        assert "innerHTML" not in text and "outerHTML" not in text, js.name
        assert "insertAdjacentHTML" not in text and "document.write" not in text, js.name
        assert not re.search(r"""from\s+["']https?:""", text), js.name


def test_history_pages_go_back_in_steps(web: TestClient, folder: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from gitsync.server import pages

    monkeypatch.setattr(pages, "HISTORY_LIMIT", 1)
    fid = folder_id(folder)
    first = web.get(f"/folders/{fid}/file", params={"path": "notes.txt"}).text
    m = re.search(r'href="([^"]*cursor=[^"]*)">Older versions<', first)
    assert m, first
    older = web.get(m.group(1).replace("&amp;", "&")).text
    assert "added" in older and "Newest versions" in older
    folder_first = web.get(f"/folders/{fid}").text
    assert ">Older versions<" in folder_first


def test_sides_are_named_as_this_device_sees_them() -> None:
    from gitsync.server.pages import _side_labels

    assert _side_labels("laptop", "laptop", "desktop") == ("Mine", "Theirs")
    assert _side_labels("laptop", "desktop", "laptop") == ("desktop", "Mine")
    assert _side_labels("tablet", "desktop", "laptop") == ("desktop", "laptop")
