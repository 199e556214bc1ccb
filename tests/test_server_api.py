"""The JSON API over a real folder: each route's answer checked against the real git CLI.

Requests go through the whole app (guard included) with a logged-in TestClient; writes
carry the CSRF token and Origin a page would send.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.helpers import git, init_folder, run_cli, two_devices
from tests.web_helpers import client, error_of, folder_id, log_in, write_headers

HOSTILE = "<img src=x onerror=alert(1)>.txt"


def save(folder: Path, name: str, text: str | None) -> str:
    """Write (or delete, with None) one file and commit it with `gitsync sync`; the commit."""
    p = folder / name
    if text is None:
        p.unlink()
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    code, _, err = run_cli("sync", str(folder))
    assert code == 0, err
    return git(folder, "rev-parse", "HEAD").strip()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "one\n"})
    (d / "sub").mkdir()
    save(d, "sub/plan.md", "# plan\n")
    return d


@pytest.fixture
def c() -> TestClient:
    return log_in(client())


def api(docs: Path, route: str) -> str:
    return f"/api/folders/{folder_id(docs)}/{route}"


def head(folder: Path) -> str:
    return git(folder, "rev-parse", "HEAD").strip()


# ------------------------------------------------------------------ reads

def test_folders_lists_each_folder_with_its_id_and_state(c: TestClient, docs: Path) -> None:
    r = c.get("/api/folders")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    [f] = r.json()["folders"]
    assert f["id"] == folder_id(docs) and f["path"] == str(docs.resolve())
    assert f["device"] == "laptop" and f["last_commit"]["id"] == head(docs)
    assert f["pending"] == 0 and f["conflicts"] == 0 and f["paused"] is False
    assert {"remote", "state", "last_error", "offline_since", "state_reason"} <= set(f)


def test_history_pages_newest_first_and_follows_renames(c: TestClient, docs: Path) -> None:
    for n in range(3):
        save(docs, "notes.txt", f"version {n}\n")
    os.rename(docs / "notes.txt", docs / "renamed.txt")
    assert run_cli("sync", str(docs))[0] == 0
    save(docs, "renamed.txt", "version 2\nand 3\n")
    expected = git(docs, "log", "--format=%H").split()
    got: list[str] = []
    cursor = None
    while True:
        r = c.get(api(docs, "history"), params={"limit": 2, **({"cursor": cursor}
                                                                 if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["commits"]) <= 2
        got += [cm["id"] for cm in page["commits"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == expected
    r = c.get(api(docs, "history"), params={"path": "renamed.txt", "limit": 50})
    file_commits = [cm["id"] for cm in r.json()["commits"]]
    assert file_commits == git(docs, "log", "--follow", "--format=%H", "--",
                               "renamed.txt").split()
    assert len(file_commits) == 6  # an edit, the rename, three edits, the first snapshot


def test_tree_shows_the_folder_as_it_was(c: TestClient, docs: Path) -> None:
    before = head(docs)
    save(docs, "gone.txt", "soon deleted\n")
    with_gone = head(docs)
    save(docs, "gone.txt", None)
    now = c.get(api(docs, "tree")).json()
    assert now["rev"] == head(docs)
    assert [(e["path"], e["type"]) for e in now["entries"]] == [("sub", "dir"),
                                                                ("notes.txt", "file")]
    then = c.get(api(docs, "tree"), params={"rev": with_gone}).json()
    entries = {e["path"]: e for e in then["entries"]}
    assert entries["gone.txt"]["size"] == len("soon deleted\n")
    assert entries["gone.txt"]["last_commit"]["id"] == with_gone
    sub = c.get(api(docs, "tree"), params={"rev": before, "dir": "sub"}).json()
    assert [e["path"] for e in sub["entries"]] == ["sub/plan.md"]


def test_deleted_lists_the_delete_and_where_the_file_still_is(c: TestClient,
                                                              docs: Path) -> None:
    save(docs, "gone.txt", "soon deleted\n")
    deleting = save(docs, "gone.txt", None)
    [d] = c.get(api(docs, "deleted")).json()["deleted"]
    assert d["path"] == "gone.txt" and d["commit"]["id"] == deleting
    assert git(docs, "show", f"{d['last_rev']}:gone.txt") == "soon deleted\n"


def test_file_is_the_exact_bytes_as_an_attachment(c: TestClient, docs: Path) -> None:
    first = head(docs)
    save(docs, "notes.txt", "two\n")
    r = c.get(api(docs, "file"), params={"path": "notes.txt"})
    assert r.status_code == 200 and r.content == b"two\n"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.txt"
    assert r.headers["x-content-type-options"] == "nosniff"
    old = c.get(api(docs, "file"), params={"path": "notes.txt", "rev": first})
    assert old.content == git(docs, "show", f"{first}:notes.txt").encode()


def test_hostile_file_names_and_contents_stay_data(c: TestClient, docs: Path) -> None:
    script = "<script>alert(1)</script>\n"
    save(docs, HOSTILE, script)
    r = c.get(api(docs, "tree"))
    assert r.headers["content-type"] == "application/json"
    assert HOSTILE in [e["path"] for e in r.json()["entries"]]
    f = c.get(api(docs, "file"), params={"path": HOSTILE})
    assert f.content == script.encode()
    assert f.headers["content-type"] == "application/octet-stream"
    disposition = f.headers["content-disposition"]
    assert disposition == f"attachment; filename*=UTF-8''{quote(HOSTILE, safe='')}"
    assert "<" not in disposition and '"' not in disposition
    p = c.get(api(docs, "preview"), params={"path": HOSTILE})
    assert p.headers["content-type"] == "application/json"
    assert (p.json()["kind"], p.json()["text"]) == ("text", script)
    h = c.get(api(docs, "history"), params={"path": HOSTILE}).json()
    assert h["commits"][0]["changes"][0]["path"] == HOSTILE


def test_diff_of_two_versions_and_of_the_disk(c: TestClient, docs: Path) -> None:
    first = head(docs)
    second = save(docs, "notes.txt", "one\ntwo\n")
    d = c.get(api(docs, "diff"), params={"path": "notes.txt", "from": first, "to": second})
    assert d.status_code == 200, d.text
    doc = d.json()
    assert doc["kind"] == "text" and doc["from"] == first and doc["to"] == second
    added = [ln["text"] for h in doc["hunks"] for ln in h["lines"] if ln["op"] == "+"]
    assert added == ["two"] or added == ["two\n"]
    (docs / "notes.txt").write_text("one\ntwo\nthree\n")
    disk = c.get(api(docs, "diff"), params={"path": "notes.txt", "to": "disk"}).json()
    assert disk["to"] == "disk" and disk["from"] == second
    assert "three" in str(disk["hunks"])


def test_preview_of_text_and_binary(c: TestClient, docs: Path) -> None:
    (docs / "blob.bin").write_bytes(bytes(range(256)) * 4)
    run_cli("sync", str(docs))
    text = c.get(api(docs, "preview"), params={"path": "notes.txt"}).json()
    assert (text["kind"], text["text"]) == ("text", "one\n")
    assert c.get(api(docs, "preview"), params={"path": "blob.bin"}).json() == {
        "kind": "binary", "size": 1024}


# ------------------------------------------------------------------ hostile paths

HOSTILE_PATHS = ["../outside.txt", "/etc/passwd", ".git/config", ".GIT/HEAD", "sub/../../x",
                 "a\x00b", "sub\\..\\..\\x", ".git", "git~1/config", "./notes.txt",
                 "link/secret.txt", "link"]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_are_400_and_touch_nothing_outside(c: TestClient, docs: Path,
                                                         tmp_path: Path, path: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET-CONTENT\n")
    (tmp_path / "outside.txt").write_text("sentinel\n")
    (docs / "link").symlink_to(outside)
    reads = [("history", {"path": path}), ("tree", {"dir": path}), ("file", {"path": path}),
             ("diff", {"path": path}), ("preview", {"path": path})]
    for route, params in reads:
        r = c.get(api(docs, route), params=params)
        assert r.status_code == 400, (route, path, r.status_code, r.text)
        assert error_of(r)["code"] == "bad_path"
        assert b"TOP-SECRET" not in r.content
    r = c.post(api(docs, "restore"), json={"path": path, "rev": head(docs)},
               headers=write_headers())
    assert r.status_code == 400, r.text
    assert (tmp_path / "outside.txt").read_text() == "sentinel\n"
    assert (outside / "secret.txt").read_text() == "TOP-SECRET-CONTENT\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


# ------------------------------------------------------------------ writes

def test_restore_a_file_and_a_directory(c: TestClient, docs: Path) -> None:
    first = head(docs)
    save(docs, "notes.txt", "two\n")
    save(docs, "sub/plan.md", "# new plan\n")
    save(docs, "sub/added.md", "added later\n")
    r = c.post(api(docs, "restore"), json={"path": "notes.txt", "rev": first},
               headers=write_headers())
    assert r.status_code == 200, r.text
    assert r.json()["commit"]["id"] == head(docs)
    assert (docs / "notes.txt").read_text() == "one\n"
    assert git(docs, "show", "HEAD:notes.txt") == "one\n"
    r = c.post(api(docs, "restore"), json={"path": "sub", "rev": first},
               headers=write_headers())
    assert r.status_code == 200, r.text
    assert (docs / "sub/plan.md").read_text() == "# plan\n"
    assert (docs / "sub/added.md").read_text() == "added later\n"  # kept unless exact
    assert git(docs, "status", "--porcelain") == ""
    r = c.post(api(docs, "restore"), json={"path": "sub", "rev": first, "exact": True},
               headers=write_headers())
    assert r.status_code == 200, r.text
    assert not (docs / "sub/added.md").exists()
    assert git(docs, "ls-files", "sub").split() == ["sub/plan.md"]


def test_sync_pause_and_resume(c: TestClient, docs: Path) -> None:
    (docs / "notes.txt").write_text("edited\n")
    r = c.post(api(docs, "sync"), headers=write_headers())
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["committed"]["id"] == head(docs) and doc["open_conflicts"] == 0
    assert git(docs, "status", "--porcelain") == ""
    assert c.post(api(docs, "pause"), headers=write_headers()).json() == {
        "id": folder_id(docs), "paused": True}
    [f] = c.get("/api/folders").json()["folders"]
    assert f["paused"] is True and f["state"] == "paused"
    assert c.post(api(docs, "resume"), headers=write_headers()).json()["paused"] is False
    [f] = c.get("/api/folders").json()["folders"]
    assert f["paused"] is False


def test_conflicts_listed_shown_and_resolved_hunk_by_hunk(tmp_path: Path,
                                                         c: TestClient) -> None:
    a, b, _hub, home_b = two_devices(tmp_path, {"notes.txt": "a\nb\nc\n"})
    (a / "notes.txt").write_text("a\nmine\nc\n")
    (b / "notes.txt").write_text("a\ntheirs\nc\n")
    assert run_cli("sync", str(b), home=home_b)[0] == 0
    assert run_cli("sync", str(a))[0] == 1  # conflict left for the user
    [rec] = c.get(api(a, "conflicts")).json()["conflicts"]
    assert rec["path"] == "notes.txt" and rec["theirs_device"] == "desktop"
    detail = c.get(api(a, f"conflicts/{rec['id']}")).json()
    assert detail["ours"] == "a\nmine\nc\n" and detail["theirs"] == "a\ntheirs\nc\n"
    assert detail["base"] == "a\nb\nc\n" and detail["count"] == 1
    [hunk] = [s for s in detail["segments"] if s["kind"] == "conflict"]
    r = c.post(api(a, f"conflicts/{rec['id']}/resolve"),
               json={"hunks": [{"index": hunk["index"], "take": "theirs"}]},
               headers=write_headers())
    assert r.status_code == 200, r.text
    assert r.json()["commit"]["id"] == head(a)
    assert (a / "notes.txt").read_text() == "a\ntheirs\nc\n"
    assert c.get(api(a, "conflicts")).json()["conflicts"] == []
    assert c.get(api(a, f"conflicts/{rec['id']}")).status_code == 404


@pytest.mark.parametrize("body", [{}, {"take": "ours", "content_base64": "eA=="},
                                  {"take": "mine"}, {"content_base64": "not base64!"},
                                  {"hunks": [{"index": -1, "take": "ours"}]}, {"extra": 1}])
def test_a_bad_resolve_body_is_400(c: TestClient, docs: Path, body: dict) -> None:
    # The body is checked before the conflict is looked up: 400 even for an unknown id.
    r = c.post(api(docs, "conflicts/0123456789abcdef/resolve"), json=body,
               headers=write_headers())
    assert r.status_code == 400, r.text
    assert error_of(r)["code"] == "bad_request"


def test_resolve_with_full_content_and_by_side(tmp_path: Path, c: TestClient) -> None:
    import base64

    a, b, _hub, home_b = two_devices(tmp_path, {"one.txt": "x\n", "two.txt": "y\n"})
    for name in ("one.txt", "two.txt"):
        (a / name).write_text(f"{name} mine\n")
        (b / name).write_text(f"{name} theirs\n")
    assert run_cli("sync", str(b), home=home_b)[0] == 0
    assert run_cli("sync", str(a))[0] == 1
    records = {r["path"]: r for r in c.get(api(a, "conflicts")).json()["conflicts"]}
    assert set(records) == {"one.txt", "two.txt"}
    merged = b"written by hand\n"
    r = c.post(api(a, f"conflicts/{records['one.txt']['id']}/resolve"),
               json={"content_base64": base64.b64encode(merged).decode()},
               headers=write_headers())
    assert r.status_code == 200, r.text
    assert (a / "one.txt").read_bytes() == merged
    r = c.post(api(a, f"conflicts/{records['two.txt']['id']}/resolve"), json={"take": "ours"},
               headers=write_headers())
    assert r.status_code == 200, r.text
    assert (a / "two.txt").read_text() == "two.txt mine\n"
    assert git(a, "show", "HEAD:two.txt") == "two.txt mine\n"
    assert c.get(api(a, "conflicts")).json() == {"conflicts": []}
    assert git(a, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_word_conflict_through_the_api(tmp_path: Path, c: TestClient) -> None:
    from tests import docx_builders as db
    from tests.sync_helpers import docx_lines, make_net, sync

    base = db.numbered(6)
    net = make_net(tmp_path, {"r.docx": base}, n=2)
    a, b = net["A"], net["B"]
    laptop, desktop = base, base
    for i in (1, 4):
        laptop = db.edit(laptop, db.set_para(i, f"Laptop {i}."))
        desktop = db.edit(desktop, db.set_para(i, f"Desktop {i}."))
    (a / "r.docx").write_bytes(laptop)
    sync(a)
    (b / "r.docx").write_bytes(desktop)
    sync(b, expect=1)
    [rec] = c.get(api(b, "conflicts")).json()["conflicts"]
    d = c.get(api(b, f"conflicts/{rec['id']}"))
    assert d.status_code == 200, d.text
    detail = d.json()
    assert detail["docx"] is True and detail["count"] == 2
    assert [(s["ours"], s["theirs"]) for s in detail["segments"]] == [
        ("Desktop 1.", "Laptop 1."), ("Desktop 4.", "Laptop 4.")]
    preview = c.get(api(b, "preview"), params={"path": "r.docx"}).json()
    assert preview["kind"] == "docx" and preview["blocks"]
    r = c.post(api(b, f"conflicts/{rec['id']}/resolve"),
               json={"hunks": [{"index": 0, "take": "theirs"}, {"index": 1, "take": "ours"}]},
               headers=write_headers())
    assert r.status_code == 200, r.text
    lines = docx_lines(b / "r.docx")
    assert (lines[1], lines[4]) == ("Laptop 1.", "Desktop 4.")
    diff = c.get(api(b, "diff"), params={"path": "r.docx", "from": "HEAD~1", "to": "HEAD"})
    assert diff.status_code == 200 and diff.json()["kind"] == "docx", diff.text
    assert git(b, "status", "--porcelain") == ""
