"""The service methods the web server calls, on real folders, with git as the judge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitsync.config import Paths, folder_key
from gitsync.errors import NotFoundError, PathError, RevisionError, UserError
from gitsync.service import Service
from tests import docx_builders as db
from tests.helpers import commit_count, fsck_clean, git, run_cli
from tests.sync_helpers import conflicts_json, copies, docx_lines, make_net, sync

HOSTILE = ["../x", "/etc/passwd", ".git/config", ".GIT/config", "a/../../x", "x\0y"]


@pytest.fixture
def svc() -> Service:
    return Service(Paths.discover())


def saved(folder: Path, files: dict[str, str | None]) -> str:
    """Write FILES (None deletes) and commit them with 'gitsync sync'; the new HEAD."""
    for name, text in files.items():
        p = folder / name
        if text is None:
            p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    sync(folder)
    return git(folder, "rev-parse", "HEAD").strip()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    net = make_net(tmp_path, {"a.txt": "one\n", "docs/b.txt": "bee\n"}, n=1)
    return net["A"]


def test_folders_by_id_and_their_summaries(folder: Path, svc: Service) -> None:
    fid = folder_key(folder)
    assert svc.folder_by_id(fid).path == folder
    with pytest.raises(NotFoundError):
        svc.folder_by_id("nope-0000000000")
    [item] = svc.folder_summaries()
    assert set(item) == {"id", "path", "device", "remote", "state", "last_commit", "pending",
                         "conflicts", "last_error", "offline_since", "paused", "state_reason"}
    assert item["id"] == fid and item["device"] == "laptop" and item["paused"] is False
    assert item["last_commit"]["id"] == git(folder, "rev-parse", "HEAD").strip()
    (folder / "new.txt").write_text("n\n")
    assert svc.folder_summaries()[0]["pending"] == 1


@pytest.mark.parametrize("path", HOSTILE)
def test_every_path_argument_is_checked(folder: Path, svc: Service, path: str) -> None:
    fid = folder_key(folder)
    head = git(folder, "rev-parse", "HEAD").strip()
    calls = [lambda: svc.file_at(fid, path), lambda: svc.disk_file(fid, path),
             lambda: svc.diff(fid, path), lambda: svc.preview(fid, path),
             lambda: svc.history(fid, path), lambda: svc.tree(fid, None, path),
             lambda: svc.restore_path(fid, path, head)]
    for call in calls:
        with pytest.raises(PathError):
            call()
    assert git(folder, "rev-parse", "HEAD").strip() == head


def test_a_symlink_out_of_the_folder_is_never_followed(folder: Path, tmp_path: Path,
                                                       svc: Service) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not show\n")
    os.symlink(secret, folder / "link.txt")
    os.symlink(tmp_path, folder / "outdir")
    fid = folder_key(folder)
    for path in ("link.txt", "outdir/secret.txt"):
        with pytest.raises(PathError):
            svc.disk_file(fid, path)
        with pytest.raises(PathError):
            svc.diff(fid, path)


def test_files_versions_and_the_disk(folder: Path, svc: Service) -> None:
    fid = folder_key(folder)
    first = git(folder, "rev-parse", "HEAD").strip()
    saved(folder, {"a.txt": "one two\n"})
    assert svc.file_at(fid, "a.txt") == b"one two\n"
    assert svc.file_at(fid, "a.txt", first) == b"one\n"
    with pytest.raises(NotFoundError):
        svc.file_at(fid, "nope.txt")
    with pytest.raises(PathError):  # not found is a path error too (the CLI's exit code 2)
        svc.file_at(fid, "nope.txt", first)
    with pytest.raises(RevisionError):
        svc.file_at(fid, "a.txt", "not-a-rev")
    assert svc.disk_file(fid, "a.txt") == b"one two\n"
    assert svc.disk_file(fid, "gone.txt") is None
    assert svc.preview(fid, "a.txt")["text"] == "one two\n"
    (folder / "a.txt").write_text("one two three\n")
    d = svc.diff(fid, "a.txt")  # the disk against the last commit
    assert d["to"] == "disk" and d["from"] == git(folder, "rev-parse", "HEAD").strip()
    assert [ln["text"] for h in d["hunks"] for ln in h["lines"]] == ["one two", "one two three"]
    d = svc.diff(fid, "a.txt", None, "HEAD")  # HEAD against the version before it
    assert d["from"] == first
    assert [ln["op"] + ln["text"] for h in d["hunks"] for ln in h["lines"]] == \
        ["-one", "+one two"]


def test_history_tree_and_deleted_through_the_service(folder: Path, svc: Service) -> None:
    fid = folder_key(folder)
    saved(folder, {"docs/c.txt": "c\n"})
    before = saved(folder, {"a.txt": "A\n"})
    saved(folder, {"docs/b.txt": None})
    commits, cursor = svc.history(fid, "docs", limit=1)
    assert commits[0].summary == "laptop: deleted b.txt" and cursor
    more, _ = svc.history(fid, "docs", limit=5, cursor=cursor)
    assert [c.id for c in commits + more] == git(
        folder, "log", "--first-parent", "--format=%H", "--", "docs").split()
    rev, entries = svc.tree(fid, before, "docs")
    assert rev == before and [e.path for e in entries] == ["docs/b.txt", "docs/c.txt"]
    rev, entries = svc.tree(fid, None, "")
    assert [(e.path, e.type) for e in entries] == [("docs", "dir"), ("a.txt", "file")]
    with pytest.raises(NotFoundError):
        svc.tree(fid, None, "missing")
    [gone] = svc.deleted(fid, None)
    assert gone.path == "docs/b.txt" and gone.last_rev == before
    assert svc.deleted(fid, "1s", now=gone.commit.time + 100) == []


def test_restore_a_subtree_keeps_later_files_unless_exact(folder: Path, svc: Service) -> None:
    fid = folder_key(folder)
    old = saved(folder, {"docs/c.txt": "c1\n", "docs/deep/d.txt": "d1\n"})
    saved(folder, {"docs/c.txt": "c2\n", "docs/deep/d.txt": None, "docs/new.txt": "n\n",
                   "a.txt": "outside changed\n"})
    (folder / "docs" / "b.txt").write_text("saved but not committed yet\n")
    before = commit_count(folder)
    c = svc.restore_path(fid, "docs", old)
    assert c is not None and c.summary.startswith("laptop: restored docs from")
    # The unsaved edit was committed first, then the restore: two commits, nothing lost.
    assert commit_count(folder) == before + 2
    assert git(folder, "show", "HEAD~1:docs/b.txt") == "saved but not committed yet\n"
    for p in ("docs/b.txt", "docs/c.txt", "docs/deep/d.txt"):
        assert git(folder, "show", f"HEAD:{p}") == git(folder, "show", f"{old}:{p}")
        assert (folder / p).read_text() == git(folder, "show", f"{old}:{p}")
    assert (folder / "docs/new.txt").exists()  # added since: kept
    assert git(folder, "show", "HEAD:a.txt") == "outside changed\n"  # outside: untouched
    c = svc.restore_path(fid, "docs", old, exact=True)
    assert c is not None
    assert git(folder, "ls-tree", "-r", "--name-only", "HEAD", "docs/") == \
        git(folder, "ls-tree", "-r", "--name-only", old, "docs/")
    assert not (folder / "docs/new.txt").exists()
    assert svc.restore_path(fid, "docs", old, exact=True) is None  # nothing differs now
    assert git(folder, "status", "--porcelain") == ""
    fsck_clean(folder)


def test_restore_the_whole_folder_and_one_file(folder: Path, svc: Service) -> None:
    fid = folder_key(folder)
    first = git(folder, "rev-parse", "HEAD").strip()
    saved(folder, {"a.txt": "changed\n", "extra.txt": "x\n"})
    c = svc.restore_path(fid, "", first, exact=True)
    assert c is not None and "the whole folder" in c.summary
    assert git(folder, "diff", "--stat", first, "HEAD") == ""
    saved(folder, {"a.txt": "again\n"})
    c = svc.restore_path(fid, "a.txt", first)
    assert c is not None and (folder / "a.txt").read_text() == "one\n"
    with pytest.raises(NotFoundError):
        svc.restore_path(fid, "never.txt", first)


@pytest.fixture
def text_conflict(tmp_path: Path) -> tuple[Path, Path, str]:
    """Devices A and B (one gitsync home) where B holds a text conflict in t.txt."""
    base = "intro\nx\nb\nkeep\n\nd\nend\n"
    net = make_net(tmp_path, {"t.txt": base}, n=2)
    a, b = net["A"], net["B"]
    (a / "t.txt").write_text("intro\nx\nB-laptop\nkeep\n\nD-laptop\nend\n")
    sync(a)
    (b / "t.txt").write_text("INTRO\nx\nB-desktop\nkeep\n\nD-desktop\nend\n")
    sync(b, expect=1)
    [rec] = conflicts_json(b)
    return a, b, rec["id"]


def test_conflict_detail_segments(text_conflict: tuple[Path, Path, str], svc: Service) -> None:
    _a, b, cid = text_conflict
    [(_fc, recs)] = [x for x in svc.conflict_list() if x[0].path == b]
    assert [r.id for r in recs] == [cid]
    d = svc.conflict_detail(folder_key(b), cid)
    assert d["id"] == cid and d["docx"] is False and d["count"] == 2
    assert d["base"].startswith("intro\nx\nb\n") and d["ours"].startswith("INTRO\nx\nB-d")
    assert [s["kind"] for s in d["segments"]] == ["same", "conflict", "same", "conflict",
                                                  "same"]
    assert d["segments"][0]["text"] == "INTRO\nx\n"  # one side's edit is no conflict
    assert d["segments"][1]["ours"] == "B-desktop\n"
    assert d["segments"][1]["theirs"] == "B-laptop\n"
    with pytest.raises(NotFoundError):
        svc.conflict_detail(folder_key(b), "0123456789abcdef")
    with pytest.raises(NotFoundError):
        svc.conflict_detail(folder_key(b), "../../etc")


def test_resolve_hunk_by_hunk_gives_exactly_the_chosen_text(
        text_conflict: tuple[Path, Path, str], svc: Service) -> None:
    a, b, cid = text_conflict
    res = svc.resolve_conflict(folder_key(b), cid, hunks=[{"index": 0, "take": "theirs"},
                                                          {"index": 1, "take": "both"}])
    want = "INTRO\nx\nB-laptop\nkeep\n\nD-desktop\nD-laptop\nend\n"
    assert (b / "t.txt").read_text() == want
    assert res.commit is not None and git(b, "show", "HEAD:t.txt") == want
    assert git(b, "log", "-1", "--format=%s") == \
        "desktop: resolved conflict in t.txt (decided 2 conflict(s) one by one)\n"
    assert copies(b, "t") == [] and conflicts_json(b) == []
    assert git(b, "status", "--porcelain") == ""
    sync(a)  # the resolution reached the hub: the other device gets it
    assert (a / "t.txt").read_text() == want and conflicts_json(a) == []


@pytest.mark.parametrize(("how", "want"), [
    ({"take": "ours"}, "INTRO\nx\nB-desktop\nkeep\n\nD-desktop\nend\n"),
    ({"take": "theirs"}, "INTRO\nx\nB-laptop\nkeep\n\nD-laptop\nend\n"),
    ({"take": "both"}, "INTRO\nx\nB-desktop\nB-laptop\nkeep\n\nD-desktop\nD-laptop\nend\n"),
    ({"content": b"typed by hand\n"}, "typed by hand\n"),
])
def test_resolve_by_side_or_content(text_conflict: tuple[Path, Path, str], svc: Service,
                                    how: dict, want: str) -> None:
    _a, b, cid = text_conflict
    svc.resolve_conflict(folder_key(b), cid, **how)
    assert (b / "t.txt").read_text() == want == git(b, "show", "HEAD:t.txt")
    assert conflicts_json(b) == []


def test_bad_resolutions_are_refused_before_anything_changes(
        text_conflict: tuple[Path, Path, str], svc: Service) -> None:
    _a, b, cid = text_conflict
    head = git(b, "rev-parse", "HEAD")
    fid = folder_key(b)
    for kwargs in ({}, {"take": "mine"}, {"hunks": [{"index": 0, "take": "ours"}]},
                   {"hunks": [{"index": 5, "take": "ours"}, {"index": 0, "take": "ours"},
                              {"index": 1, "take": "ours"}]},
                   {"take": "ours", "content": b"x"}):
        with pytest.raises(UserError):
            svc.resolve_conflict(fid, cid, **kwargs)
    with pytest.raises(NotFoundError):
        svc.resolve_conflict(fid, "0123456789abcdef", take="ours")
    assert git(b, "rev-parse", "HEAD") == head and len(conflicts_json(b)) == 1


def test_a_file_edited_after_the_conflict_needs_the_whole_content(
        text_conflict: tuple[Path, Path, str], svc: Service) -> None:
    _a, b, cid = text_conflict
    (b / "t.txt").write_text("edited meanwhile\n")
    with pytest.raises(UserError, match="changed after the conflict"):
        svc.resolve_conflict(folder_key(b), cid, take="theirs")
    # The save was committed before the refusal: it is in history, not lost.
    assert git(b, "show", "HEAD:t.txt") == "edited meanwhile\n"


def test_saves_made_after_the_conflict_are_kept_when_it_is_settled_part_by_part(
        text_conflict: tuple[Path, Path, str], svc: Service) -> None:
    """The demo's case: a line is added elsewhere in the file after the conflict was
    recorded; settling the conflict keeps that line, it does not undo the save."""
    _a, b, cid = text_conflict
    with open(b / "t.txt", "a") as fh:
        fh.write("added later\n")
    svc.resolve_conflict(folder_key(b), cid, hunks=[{"index": 0, "take": "theirs"},
                                                   {"index": 1, "take": "ours"}])
    want = "INTRO\nx\nB-laptop\nkeep\n\nD-desktop\nend\nadded later\n"
    assert (b / "t.txt").read_text() == want == git(b, "show", "HEAD:t.txt")
    assert conflicts_json(b) == []
    assert "added later" in git(b, "show", "HEAD~1:t.txt")  # the save itself is history


def test_a_docx_conflict_taken_either_way(tmp_path: Path, svc: Service) -> None:
    base = db.numbered(5)
    net = make_net(tmp_path, {"r.docx": base}, n=2)
    a, b = net["A"], net["B"]
    (a / "r.docx").write_bytes(db.edit(base, db.set_para(1, "Laptop's paragraph one.")))
    sync(a)
    (b / "r.docx").write_bytes(db.edit(db.edit(base, db.set_para(1, "Desktop's one.")),
                                       db.set_para(4, "Desktop's clean edit.")))
    sync(b, expect=1)
    [rec] = conflicts_json(b)
    fid = folder_key(b)
    d = svc.conflict_detail(fid, rec["id"])
    assert d["docx"] is True and d["count"] == 1
    seg = d["segments"][0]
    assert seg["ours"] == "Desktop's one." and seg["theirs"] == "Laptop's paragraph one."
    assert "Paragraph 0" in d["base"]
    with pytest.raises(UserError):  # per-paragraph choices that differ: refused
        svc.resolve_conflict(fid, rec["id"], hunks=[{"index": 0, "take": "base"}])
    svc.resolve_conflict(fid, rec["id"], hunks=[{"index": 0, "take": "theirs"}])
    lines = docx_lines(b / "r.docx")
    assert "Laptop's paragraph one." in lines and "Desktop's one." not in lines
    assert "Desktop's clean edit." in lines
    assert db.revisions((b / "r.docx").read_bytes()) == []
    assert conflicts_json(b) == []
    db.assert_valid((b / "r.docx").read_bytes())


def test_pause_and_resume_show_in_status(folder: Path, svc: Service) -> None:
    fid = folder_key(folder)
    svc.pause(fid)
    [item] = svc.folder_summaries()
    assert (item["state"], item["state_reason"], item["paused"]) == \
        ("paused", "paused by you", True)
    code, out, _ = run_cli("status", str(folder))
    assert code == 0 and "paused by you" in out
    with pytest.raises(UserError):
        svc.sync_folder(fid)
    svc.resume(fid)
    assert svc.folder_summaries()[0]["paused"] is False
    (folder / "a.txt").write_text("after resume\n")
    report = svc.sync_folder(fid)
    assert report.committed is not None


def test_a_docx_conflict_decided_paragraph_by_paragraph(tmp_path: Path, svc: Service) -> None:
    base = db.numbered(10)
    net = make_net(tmp_path, {"r.docx": base}, n=2)
    a, b = net["A"], net["B"]
    laptop, desktop = base, base
    for i in (1, 4, 7):
        laptop = db.edit(laptop, db.set_para(i, f"Laptop {i}."))
        desktop = db.edit(desktop, db.set_para(i, f"Desktop {i}."))
    (a / "r.docx").write_bytes(laptop)
    sync(a)
    (b / "r.docx").write_bytes(desktop)
    sync(b, expect=1)
    [rec] = conflicts_json(b)
    fid = folder_key(b)
    d = svc.conflict_detail(fid, rec["id"])
    assert [(s["ours"], s["theirs"]) for s in d["segments"]] == [
        (f"Desktop {i}.", f"Laptop {i}.") for i in (1, 4, 7)]
    svc.resolve_conflict(fid, rec["id"], hunks=[{"index": 0, "take": "ours"},
                                                {"index": 1, "take": "theirs"},
                                                {"index": 2, "take": "theirs"}])
    lines = docx_lines(b / "r.docx")
    assert (lines[1], lines[4], lines[7]) == ("Desktop 1.", "Laptop 4.", "Laptop 7.")
    assert db.revisions((b / "r.docx").read_bytes()) == []
    assert conflicts_json(b) == [] and git(b, "status", "--porcelain") == ""


def test_a_docx_edited_since_the_merge_is_not_decided_piecemeal(tmp_path: Path,
                                                                svc: Service) -> None:
    base = db.numbered(6)
    net = make_net(tmp_path, {"r.docx": base}, n=2)
    a, b = net["A"], net["B"]
    laptop = db.edit(db.edit(base, db.set_para(1, "L1.")), db.set_para(4, "L4."))
    desktop = db.edit(db.edit(base, db.set_para(1, "D1.")), db.set_para(4, "D4."))
    (a / "r.docx").write_bytes(laptop)
    sync(a)
    (b / "r.docx").write_bytes(desktop)
    sync(b, expect=1)
    [rec] = conflicts_json(b)
    edited = db.edit((b / "r.docx").read_bytes(), db.append_para("Added in Word later."))
    (b / "r.docx").write_bytes(edited)
    with pytest.raises(UserError, match="conflict by conflict"):
        svc.resolve_conflict(folder_key(b), rec["id"], hunks=[{"index": 0, "take": "ours"},
                                                              {"index": 1, "take": "theirs"}])
    svc.resolve_conflict(folder_key(b), rec["id"], take="theirs")  # one way for all: fine
    lines = docx_lines(b / "r.docx")
    assert "D1." not in lines and "L1." in lines and "Added in Word later." in lines
