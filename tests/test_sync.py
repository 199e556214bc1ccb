"""Several devices syncing through one bare hub, driven through the CLI in-process.

Each device is a folder registered in the test's private GITSYNC_HOME: device A is made
with ``gitsync init`` (which creates the hub), B and C join with ``gitsync clone``. The real
``git`` CLI is the independent judge: history shape (``git log``), content (``git show``),
integrity (``git fsck --strict``) and a clean ``git status`` after every sync.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import docx_builders
from tests.helpers import commit_count, fsck_clean, git, run_cli

MARKERS = (b"<<<<<<<", b">>>>>>>", b"|||||||")


# ---------------------------------------------------------------------------- builders
@dataclass
class Net:
    """A hub and the devices that sync through it."""

    hub: Path
    devices: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Path:
        return self.devices[name]


def init_device(folder: Path, device: str, *extra: str) -> dict:
    code, out, err = run_cli("init", str(folder), "--device", device, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def make_net(tmp_path: Path, files: dict[str, bytes | str], n: int = 2) -> Net:
    """Device A ("laptop") with FILES, synced to a new hub; then B ("desktop"), C ("tablet")
    cloned from it. Every device is in sync when this returns."""
    a = tmp_path / "A"
    a.mkdir()
    for name, content in files.items():
        p = a / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
    hub = Path(init_device(a, "laptop")["remote"])
    sync(a)
    net = Net(hub, {"A": a})
    for key, device in (("B", "desktop"), ("C", "tablet"))[: n - 1]:
        d = tmp_path / key
        code, _, err = run_cli("clone", str(hub), str(d), "--device", device)
        assert code == 0, err
        net.devices[key] = d
    return net


def sync(folder: Path, expect: int = 0, *, clean: bool = True) -> dict:
    """``gitsync sync --json`` on FOLDER; asserts the exit status and (unless CLEAN is false,
    for files waiting for an editor) that git sees nothing uncommitted."""
    code, out, err = run_cli("sync", str(folder), "--json")
    assert code == expect, (code, out, err)
    report: dict = json.loads(out)["folders"][0]
    if not clean:
        return report
    assert git(folder, "status", "--porcelain", "--untracked-files=all") == "", \
        git(folder, "status")
    return report


def sync_all(net: Net, rounds: int = 2, expect: int = 0) -> None:
    """Enough rounds for every device to see every other's changes."""
    for _ in range(rounds):
        for d in net.devices.values():
            sync(d, expect)


def head(folder: Path) -> str:
    return git(folder, "rev-parse", "HEAD").strip()


def parents(folder: Path, rev: str = "HEAD") -> list[str]:
    return git(folder, "rev-list", "--parents", "-n", "1", rev).split()[1:]


def copies(folder: Path, stem: str) -> list[Path]:
    """Conflict copies of STEM in FOLDER (``STEM (conflict ...``)."""
    return sorted(folder.glob(f"{stem} (conflict *"))


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file of the folder (not .git) with its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[0] == ".git" or not p.is_file():
            continue
        out[rel.as_posix()] = p.read_bytes()
    return out


def assert_no_markers(*folders: Path) -> None:
    for folder in folders:
        for rel, data in files_of(folder).items():
            assert not any(m in data for m in MARKERS), f"conflict markers in {folder}/{rel}"


def assert_same(net: Net) -> None:
    """Every device holds the same files and the same HEAD, and each repo is sound."""
    first = next(iter(net.devices.values()))
    for d in net.devices.values():
        assert head(d) == head(first)
        assert files_of(d) == files_of(first)
        fsck_clean(d)
    assert git(net.hub, "rev-parse", "refs/heads/main").strip() == head(first)


def conflicts_json(folder: Path) -> list[dict]:
    code, out, err = run_cli("conflicts", str(folder), "--json")
    assert code == 0, err
    recs: list[dict] = json.loads(out)["folders"][0]["conflicts"]
    return recs


LINES = "".join(f"line {i}\n" for i in range(1, 11))


# ---------------------------------------------------------------------------- propagation
def test_changes_propagate_to_two_other_devices(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "sub/plan.md": "# plan\n"}, n=3)
    a, b, c = net["A"], net["B"], net["C"]
    for d in (b, c):
        assert (d / "notes.txt").read_text() == LINES
        assert (d / "sub" / "plan.md").read_text() == "# plan\n"
    (a / "new.txt").write_text("fresh\n")
    (a / "sub" / "plan.md").unlink()
    (a / "notes.txt").write_text(LINES + "line 11\n")
    sync(a)
    for d in (b, c):
        rep = sync(d)
        assert rep["action"] == "fast-forward"
        assert (d / "new.txt").read_text() == "fresh\n"
        assert not (d / "sub").exists()  # the emptied folder goes too
        assert (d / "notes.txt").read_text().endswith("line 11\n")
    (c / "from-c.txt").write_text("c\n")
    sync(c)
    sync_all(net, rounds=1)
    assert (a / "from-c.txt").read_text() == "c\n"
    assert_same(net)


def test_a_file_replaced_by_a_folder_propagates(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes": "a file\n", "keep.txt": "k\n"})
    a, b = net["A"], net["B"]
    (a / "notes").unlink()
    (a / "notes").mkdir()
    (a / "notes" / "monday.txt").write_text("inside\n")
    sync(a)
    rep = sync(b)
    assert rep["action"] == "fast-forward"
    assert (b / "notes" / "monday.txt").read_text() == "inside\n"
    assert_same(net)


def test_file_edited_here_turned_into_a_folder_there_keeps_both(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes": LINES, "k.txt": "k\n"})
    a, b = net["A"], net["B"]
    (b / "notes").unlink()
    (b / "notes").mkdir()
    (b / "notes" / "x.txt").write_text("x\n")
    (a / "notes").write_text(LINES + "edit\n")
    sync(a)
    [rec] = sync(b, expect=1)["new_conflicts"]
    assert rec["kind"] == "path"
    sync(a, expect=1)
    for d in (a, b):
        assert (d / "notes" / "x.txt").read_text() == "x\n"
        [cp] = copies(d, "notes")
        assert cp.read_text() == LINES + "edit\n"
    assert_same(net)


def test_sync_without_a_folder_syncs_every_device_of_this_home(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES}, n=3)
    (net["B"] / "fromB.txt").write_text("b\n")
    for _ in range(2):
        code, out, err = run_cli("sync", "--json")
        assert code == 0, err
        assert sorted(f["path"] for f in json.loads(out)["folders"]) == \
            sorted(str(d) for d in net.devices.values())
    for d in net.devices.values():
        assert (d / "fromB.txt").read_text() == "b\n"
    assert_same(net)


def test_fast_forward_makes_no_merge_commit(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    for i in range(3):
        (a / "notes.txt").write_text(LINES + f"more {i}\n")
        sync(a)
    rep = sync(b)
    assert rep["action"] == "fast-forward" and rep["pushed"] is None
    assert head(b) == head(a)
    assert git(b, "rev-list", "--merges", "--count", "HEAD").strip() == "0"
    assert commit_count(b) == 4
    assert git(b, "reflog", "-1", "--format=%gs").startswith("gitsync: fast-forward")


# ---------------------------------------------------------------------------- clean merges
def test_edits_to_different_lines_are_both_kept(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text(LINES.replace("line 2\n", "line two (laptop)\n"))
    (b / "notes.txt").write_text(LINES.replace("line 9\n", "line nine (desktop)\n"))
    sync(a)
    theirs = head(a)
    rep = sync(b)
    assert rep["action"] == "merged" and rep["new_conflicts"] == []
    want = LINES.replace("line 2\n", "line two (laptop)\n").replace(
        "line 9\n", "line nine (desktop)\n")
    assert (b / "notes.txt").read_text() == want
    assert parents(b) == [rep["committed"]["id"], theirs]
    assert rep["pushed"] == head(b)
    sync(a)
    assert (a / "notes.txt").read_text() == want
    assert_same(net)
    assert copies(a, "notes") == []


@pytest.mark.parametrize("n", [2, 3])
def test_edits_to_different_files_merge_without_conflict(tmp_path: Path, n: int) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "todo.txt": "t\n"}, n=n)
    (net["A"] / "notes.txt").write_text(LINES + "by laptop\n")
    (net["B"] / "todo.txt").write_text("t\nby desktop\n")
    if n == 3:
        (net["C"] / "new.txt").write_text("by tablet\n")
    sync(net["A"])
    rep = sync(net["B"])
    assert rep["action"] == "merged" and rep["new_conflicts"] == []
    sync_all(net, rounds=2)
    for d in net.devices.values():
        assert (d / "notes.txt").read_text() == LINES + "by laptop\n"
        assert (d / "todo.txt").read_text() == "t\nby desktop\n"
        assert conflicts_json(d) == []
    if n == 3:
        assert (net["A"] / "new.txt").read_text() == "by tablet\n"
    assert_same(net)


def test_edits_to_different_words_of_one_line_are_both_kept(tmp_path: Path) -> None:
    base = "The quick brown fox jumps over the lazy dog.\nsecond line\n"
    net = make_net(tmp_path, {"notes.txt": base})
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text(base.replace("quick", "swift"))
    (b / "notes.txt").write_text(base.replace("lazy", "sleepy"))
    sync(a)
    rep = sync(b)
    assert rep["new_conflicts"] == [] and rep["open_conflicts"] == 0
    sync(a)
    want = "The swift brown fox jumps over the sleepy dog.\nsecond line\n"
    for d in (a, b):
        assert (d / "notes.txt").read_text() == want
    assert_same(net)


def test_three_devices_editing_different_lines_all_land(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES}, n=3)
    for key, line in (("A", "line 1\n"), ("B", "line 5\n"), ("C", "line 10\n")):
        p = net[key] / "notes.txt"
        p.write_text(p.read_text().replace(line, line.rstrip() + f" by {key}\n"))
    sync_all(net, rounds=2)
    text = (net["A"] / "notes.txt").read_text()
    assert "line 1 by A\n" in text and "line 5 by B\n" in text and "line 10 by C\n" in text
    assert_same(net)


# ---------------------------------------------------------------------------- conflicts
def test_same_words_conflict_keeps_both_on_every_device(tmp_path: Path) -> None:
    base = "Meeting on Monday at noon.\n"
    net = make_net(tmp_path, {"notes.txt": base, "other.txt": "x\n"}, n=3)
    a, b, c = net["A"], net["B"], net["C"]
    (a / "notes.txt").write_text("Meeting on Tuesday at noon.\n")
    (b / "notes.txt").write_text("Meeting on Friday at noon.\n")
    sync(a)
    rep = sync(b, expect=1)
    # B merged: its own version stays at the path, laptop's is the conflict copy.
    assert (b / "notes.txt").read_text() == "Meeting on Friday at noon.\n"
    [cp] = copies(b, "notes")
    assert cp.read_text() == "Meeting on Tuesday at noon.\n"
    assert "(conflict laptop " in cp.name and cp.suffix == ".txt"
    [new] = rep["new_conflicts"]
    assert new["path"] == "notes.txt" and new["copy_path"] == cp.name
    assert (new["ours_device"], new["theirs_device"]) == ("desktop", "laptop")
    sync(a, expect=1)
    sync(c, expect=1)
    for d in (a, b, c):
        assert (d / "notes.txt").read_text() == "Meeting on Friday at noon.\n"
        assert (d / cp.name).read_text() == "Meeting on Tuesday at noon.\n"
        [rec] = conflicts_json(d)
        assert rec["path"] == "notes.txt" and rec["copy_path"] == cp.name
        assert rec["kind"] == "content" and rec["hunks"]
        assert (d / rec["record_path"]).is_file()
    assert_no_markers(a, b, c)
    assert "Conflict: notes.txt" in git(b, "log", "-1", "--format=%B")
    assert_same(net)


def test_three_devices_changing_the_same_words_keep_all_three(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": "Meeting on Monday.\n"}, n=3)
    for key, day in (("A", "Tuesday"), ("B", "Friday"), ("C", "Sunday")):
        (net[key] / "notes.txt").write_text(f"Meeting on {day}.\n")
    sync(net["A"])
    sync(net["B"], expect=1)
    sync(net["C"], expect=1)
    sync_all(net, rounds=1, expect=1)
    for d in net.devices.values():
        texts = {p.read_text() for p in [d / "notes.txt", *copies(d, "notes")]}
        assert texts == {"Meeting on Tuesday.\n", "Meeting on Friday.\n",
                         "Meeting on Sunday.\n"}
        assert len(conflicts_json(d)) == 2
    assert (net["C"] / "notes.txt").read_text() == "Meeting on Sunday.\n"
    assert_no_markers(*net.devices.values())
    assert_same(net)


def test_unicode_and_spaced_names_symlinks_and_empty_files_propagate(tmp_path: Path
                                                                     ) -> None:
    net = make_net(tmp_path, {"keep.txt": "k\n"}, n=2)
    a, b = net["A"], net["B"]
    (a / "Café menu.txt").write_text("crème\n")
    (a / "日本語").mkdir()
    (a / "日本語" / "ノート.md").write_text("こんにちは\n")
    (a / "empty").write_bytes(b"")
    os.symlink("keep.txt", a / "link-to-keep")
    sync(a)
    sync(b)
    assert (b / "Café menu.txt").read_text() == "crème\n"
    assert (b / "日本語" / "ノート.md").read_text() == "こんにちは\n"
    assert (b / "empty").read_bytes() == b""
    assert (b / "link-to-keep").is_symlink()
    assert os.readlink(b / "link-to-keep") == "keep.txt"
    (b / "Café menu.txt").rename(b / "Café menu (final).txt")
    sync(b)
    sync(a)
    assert not (a / "Café menu.txt").exists()
    assert (a / "Café menu (final).txt").read_text() == "crème\n"
    assert_same(net)


@pytest.mark.slow
def test_many_files_at_once(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"keep.txt": "k\n"})
    a, b = net["A"], net["B"]
    for i in range(300):
        p = a / f"d{i % 7}" / f"file-{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_text(f"content {i}\n" * (i % 5 + 1))
    sync(a)
    rep = sync(b)
    assert len(rep["written"]) == 300
    for i in range(0, 300, 7):
        (b / f"d{i % 7}" / f"file-{i}.txt").unlink()
    sync(b)
    rep = sync(a)
    assert len(rep["removed"]) == len(range(0, 300, 7))
    assert_same(net)


def test_repeated_conflicts_each_keep_their_own_copy(tmp_path: Path) -> None:
    """Conflicts on one file in quick succession (the same second) must not share a
    conflict copy: each record's copy holds that record's other version."""
    net = make_net(tmp_path, {"notes.txt": "red\n"})
    a, b = net["A"], net["B"]
    time.sleep(1 - time.time() % 1)  # start on a fresh second: the rounds share it
    for i in range(2):
        (a / "notes.txt").write_text(f"green{i}\n")
        (b / "notes.txt").write_text(f"blue{i}\n")
        sync(a, expect=1 if i else 0)
        sync(b, expect=1)
    sync(a, expect=1)
    recs = conflicts_json(b)
    assert len(recs) == 3
    assert len({r["copy_path"] for r in recs}) == 3, [r["copy_path"] for r in recs]
    for r in recs:
        theirs = subprocess.run(["git", "cat-file", "blob", r["theirs"]], cwd=b,
                                capture_output=True, check=True).stdout
        assert (b / r["copy_path"]).read_bytes() == theirs, r["copy_path"]
    on_disk = set(files_of(b).values())
    assert {b"green0\n", b"green1\n", b"blue0\n", b"blue1\n"} <= on_disk
    assert_same(net)


def test_rename_vs_edit_puts_the_edit_in_the_renamed_file(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"draft.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "draft.txt").rename(a / "final.txt")
    (b / "draft.txt").write_text(LINES.replace("line 4\n", "line four\n"))
    sync(a)
    rep = sync(b)
    assert rep["new_conflicts"] == []
    sync(a)
    for d in (a, b):
        assert not (d / "draft.txt").exists()
        assert (d / "final.txt").read_text() == LINES.replace("line 4\n", "line four\n")
    assert_same(net)


def test_rename_here_edit_there_merged_by_the_renaming_side(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"draft.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "draft.txt").write_text(LINES.replace("line 4\n", "line four\n"))
    (b / "draft.txt").rename(b / "final.txt")
    sync(a)
    sync(b)
    sync(a)
    for d in (a, b):
        assert sorted(files_of(d)) == ["final.txt"]
        assert (d / "final.txt").read_text() == LINES.replace("line 4\n", "line four\n")
    assert_same(net)


def test_folder_rename_vs_edit_inside_it(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"docs/a.txt": LINES, "docs/b.txt": "b\n", "docs/c.txt": "c\n"})
    a, b = net["A"], net["B"]
    (a / "docs").rename(a / "papers")
    (b / "docs" / "a.txt").write_text(LINES + "edit\n")
    sync(a)
    sync(b)
    sync(a)
    for d in (a, b):
        assert sorted(files_of(d)) == ["papers/a.txt", "papers/b.txt", "papers/c.txt"]
        assert (d / "papers" / "a.txt").read_text() == LINES + "edit\n"
    assert_same(net)


def test_same_rename_on_both_devices_is_no_conflict(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"draft.txt": LINES, "k.txt": "k\n"})
    a, b = net["A"], net["B"]
    (a / "draft.txt").rename(a / "final.txt")
    (b / "draft.txt").rename(b / "final.txt")
    (b / "k.txt").write_text("k2\n")
    sync(a)
    assert sync(b)["new_conflicts"] == []
    sync(a)
    assert sorted(files_of(a)) == ["final.txt", "k.txt"]
    assert_same(net)


@pytest.mark.parametrize("deleter", ["A", "B"])
def test_modify_vs_delete_keeps_the_modified_file(tmp_path: Path, deleter: str) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "keep.txt": "k\n"})
    editor = "B" if deleter == "A" else "A"
    (net[deleter] / "notes.txt").unlink()
    (net[editor] / "notes.txt").write_text(LINES + "added\n")
    sync(net["A"])
    rep = sync(net["B"])
    assert rep["action"] == "merged" and rep["new_conflicts"] == []
    sync(net["A"])
    for d in net.devices.values():
        assert (d / "notes.txt").read_text() == LINES + "added\n"
    assert_same(net)


def test_add_vs_add_with_different_content_is_a_conflict(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"keep.txt": "k\n"})
    a, b = net["A"], net["B"]
    (a / "todo.txt").write_text("buy milk\n")
    (b / "todo.txt").write_text("call mum\n")
    sync(a)
    rep = sync(b, expect=1)
    [rec] = rep["new_conflicts"]
    assert rec["kind"] == "add-add" and rec["path"] == "todo.txt"
    sync(a, expect=1)
    for d in (a, b):
        assert (d / "todo.txt").read_text() == "call mum\n"
        [cp] = copies(d, "todo")
        assert cp.read_text() == "buy milk\n"
    assert_no_markers(a, b)
    assert_same(net)


def test_add_vs_add_with_same_content_is_no_conflict(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"keep.txt": "k\n"})
    a, b = net["A"], net["B"]
    for d in (a, b):
        (d / "same.txt").write_text("identical\n")
    sync(a)
    rep = sync(b)
    assert rep["new_conflicts"] == []
    sync(a)
    assert copies(a, "same") == [] and copies(b, "same") == []
    assert_same(net)


def test_binary_vs_binary_keeps_both_versions(tmp_path: Path) -> None:
    base = bytes(range(256)) * 8
    net = make_net(tmp_path, {"photo.png": b"\x89PNG\r\n\x1a\n" + base})
    a, b = net["A"], net["B"]
    ours = b"\x89PNG\r\n\x1a\n" + base[:100] + b"\x00B-EDIT\x00" + base[100:]
    theirs = b"\x89PNG\r\n\x1a\n" + base[:900] + b"\x00A-EDIT\x00" + base[900:]
    (a / "photo.png").write_bytes(theirs)
    (b / "photo.png").write_bytes(ours)
    sync(a)
    rep = sync(b, expect=1)
    [rec] = rep["new_conflicts"]
    assert rec["path"] == "photo.png"
    sync(a, expect=1)
    for d in (a, b):
        assert (d / "photo.png").read_bytes() == ours
        [cp] = copies(d, "photo")
        assert cp.suffix == ".png" and cp.read_bytes() == theirs
        assert len(conflicts_json(d)) == 1
    assert_same(net)


def _docx_lines(path: Path) -> list[str]:
    code, out, err = run_cli("docx-text", str(path))
    assert code == 0, err
    return out.splitlines()


def test_word_documents_merge_across_devices(tmp_path: Path) -> None:
    base = docx_builders.numbered(5)
    net = make_net(tmp_path, {"report.docx": base})
    a, b = net["A"], net["B"]
    (a / "report.docx").write_bytes(docx_builders.edit(base, docx_builders.set_para(
        1, "Paragraph 1 rewritten on the laptop.")))
    (b / "report.docx").write_bytes(docx_builders.edit(base, docx_builders.set_para(
        3, "Paragraph 3 rewritten on the desktop.")))
    sync(a)
    assert sync(b)["new_conflicts"] == []
    sync(a)
    for d in (a, b):
        lines = _docx_lines(d / "report.docx")
        assert lines[1] == "Paragraph 1 rewritten on the laptop."
        assert lines[3] == "Paragraph 3 rewritten on the desktop."
        assert lines[0] == lines[0].strip() and len(lines) == 5
        assert copies(d, "report") == []
    assert_same(net)


def test_word_conflict_is_shown_inside_the_document(tmp_path: Path) -> None:
    base = docx_builders.numbered(3)
    net = make_net(tmp_path, {"report.docx": base})
    a, b = net["A"], net["B"]
    (a / "report.docx").write_bytes(docx_builders.edit(base, docx_builders.set_para(
        1, "The laptop's version of this paragraph.")))
    (b / "report.docx").write_bytes(docx_builders.edit(base, docx_builders.set_para(
        1, "The desktop's own take on it.")))
    sync(a)
    [rec] = sync(b, expect=1)["new_conflicts"]
    assert rec["path"] == "report.docx"
    sync(a, expect=1)
    for d in (a, b):
        [listed] = conflicts_json(d)
        assert listed["id"] == rec["id"]
        # Word shows the other side's change as tracked changes: no copy is needed
        assert rec["in_document"] and rec["copy_path"] is None
        assert copies(d, "report") == []
        revs = docx_builders.revisions((d / "report.docx").read_bytes())
        assert any("The desktop's own take on it." in text for _k, _a, text in revs) or \
            "The desktop's own take on it." in "\n".join(_docx_lines(d / "report.docx"))
        assert any("laptop" in text for _k, _a, text in revs)
        docx_builders.assert_valid((d / "report.docx").read_bytes())
    assert_same(net)


# ---------------------------------------------------------------------------- encodings, modes
def test_crlf_line_endings_survive_a_merge(tmp_path: Path) -> None:
    base = b"".join(b"row %d\r\n" % i for i in range(1, 9))
    net = make_net(tmp_path, {"win.txt": base})
    a, b = net["A"], net["B"]
    (a / "win.txt").write_bytes(base.replace(b"row 2\r\n", b"row two\r\n"))
    (b / "win.txt").write_bytes(base.replace(b"row 7\r\n", b"row seven\r\n"))
    sync(a)
    assert sync(b)["new_conflicts"] == []
    sync(a)
    want = base.replace(b"row 2\r\n", b"row two\r\n").replace(b"row 7\r\n", b"row seven\r\n")
    for d in (a, b):
        got = (d / "win.txt").read_bytes()
        assert got == want
        assert got.count(b"\r\n") == got.count(b"\n") == 8
    stored = subprocess.run(["git", "show", "HEAD:win.txt"], cwd=b, capture_output=True,
                            check=True).stdout
    assert stored == want  # committed as the bytes on disk, no conversion
    assert_same(net)


def test_latin1_files_merge_and_stay_latin1(tmp_path: Path) -> None:
    base = "Café crème\nÉté à Paris\nfin\n".encode("latin-1")
    net = make_net(tmp_path, {"menu.txt": base})
    a, b = net["A"], net["B"]
    (a / "menu.txt").write_bytes("Café noir\nÉté à Paris\nfin\n".encode("latin-1"))
    (b / "menu.txt").write_bytes("Café crème\nÉté à Paris\nfin très bien\n".encode("latin-1"))
    sync(a)
    assert sync(b)["new_conflicts"] == []
    sync(a)
    want = "Café noir\nÉté à Paris\nfin très bien\n".encode("latin-1")
    for d in (a, b):
        assert (d / "menu.txt").read_bytes() == want
    assert_same(net)


def test_latin1_conflict_keeps_both_byte_for_byte(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"menu.txt": "Plat: crêpe\n".encode("latin-1")})
    a, b = net["A"], net["B"]
    theirs, ours = "Plat: gâteau\n".encode("latin-1"), "Plat: éclair\n".encode("latin-1")
    (a / "menu.txt").write_bytes(theirs)
    (b / "menu.txt").write_bytes(ours)
    sync(a)
    [rec] = sync(b, expect=1)["new_conflicts"]
    sync(a, expect=1)
    for d in (a, b):
        assert (d / "menu.txt").read_bytes() == ours
        assert (d / rec["copy_path"]).read_bytes() == theirs
        [listed] = conflicts_json(d)
        assert "éclair" in json.dumps(listed["hunks"], ensure_ascii=False)
    assert_same(net)


def _is_exec(p: Path) -> bool:
    return bool(p.stat().st_mode & stat.S_IXUSR)


@pytest.mark.parametrize("chmod_side", ["A", "B"])
def test_executable_bit_is_kept_when_one_side_sets_it(tmp_path: Path, chmod_side: str
                                                      ) -> None:
    script = "#!/bin/sh\necho one\necho two\necho three\necho four\n"
    net = make_net(tmp_path, {"run.sh": script})
    other = "B" if chmod_side == "A" else "A"
    p = net[chmod_side] / "run.sh"
    p.chmod(0o755)
    (net[other] / "run.sh").write_text(script.replace("echo four", "echo FOUR"))
    sync(net["A"])
    rep = sync(net["B"])
    assert rep["action"] == "merged" and rep["new_conflicts"] == []
    sync(net["A"])
    for d in net.devices.values():
        assert _is_exec(d / "run.sh"), d
        assert (d / "run.sh").read_text() == script.replace("echo four", "echo FOUR")
        assert git(d, "ls-files", "-s", "run.sh").startswith("100755")
    assert_same(net)


# ---------------------------------------------------------------------------- resolving
def _conflicted_net(tmp_path: Path) -> tuple[Net, str]:
    net = make_net(tmp_path, {"notes.txt": "colour: red\n"})
    (net["A"] / "notes.txt").write_text("colour: green\n")
    (net["B"] / "notes.txt").write_text("colour: blue\n")
    sync(net["A"])
    sync(net["B"], expect=1)
    sync(net["A"], expect=1)
    [cp] = copies(net["A"], "notes")
    return net, cp.name


@pytest.mark.parametrize("resolver", ["A", "B"])
@pytest.mark.parametrize("choice", ["--ours", "--theirs", "--with"])
def test_resolve_from_either_device_clears_everywhere(tmp_path: Path, resolver: str,
                                                      choice: str) -> None:
    net, copy_name = _conflicted_net(tmp_path)
    d = net[resolver]
    args = [choice]
    want = {"--ours": "colour: blue\n", "--theirs": "colour: green\n",
            "--with": "colour: teal\n"}[choice]
    if choice == "--with":
        chosen = tmp_path / "chosen.txt"
        chosen.write_text(want)
        args = ["--with", str(chosen)]
    before = head(d)
    code, out, err = run_cli("resolve", "notes.txt", *args, "--json", cwd=d)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["resolved"]["path"] == "notes.txt"
    assert parents(d) == [before]
    assert "resolved conflict in notes.txt" in git(d, "log", "-1", "--format=%s")
    assert (d / "notes.txt").read_text() == want
    assert not (d / copy_name).exists()
    assert conflicts_json(d) == []
    sync_all(net, rounds=1)
    for dev in net.devices.values():
        assert conflicts_json(dev) == []
        assert (dev / "notes.txt").read_text() == want
        assert not (dev / copy_name).exists()
        assert not (dev / ".gitsync" / "conflicts").exists() or \
            list((dev / ".gitsync" / "conflicts").iterdir()) == []
    assert_same(net)


def test_resolve_from_a_third_device(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": "colour: red\n"}, n=3)
    (net["A"] / "notes.txt").write_text("colour: green\n")
    (net["B"] / "notes.txt").write_text("colour: blue\n")
    sync(net["A"])
    sync(net["B"], expect=1)
    sync(net["C"], expect=1)
    code, _, err = run_cli("resolve", "notes.txt", "--theirs", cwd=net["C"])
    assert code == 0, err
    sync_all(net, rounds=1)
    for d in net.devices.values():
        assert (d / "notes.txt").read_text() == "colour: green\n"
        assert conflicts_json(d) == [] and copies(d, "notes") == []
    assert_same(net)


def test_two_devices_resolving_differently_keep_both_resolutions(tmp_path: Path) -> None:
    net, _copy = _conflicted_net(tmp_path)
    a, b = net["A"], net["B"]
    for d, text in ((a, "colour: teal\n"), (b, "colour: navy\n")):
        chosen = tmp_path / f"{d.name}-choice.txt"
        chosen.write_text(text)
        code, _, err = run_cli("resolve", "notes.txt", "--with", str(chosen), cwd=d)
        assert code == 0, err
    # resolve pushes at once: B's push found A's resolution and merged it
    sync(b, expect=1)
    sync(a, expect=1)
    for d in (a, b):
        assert (d / "notes.txt").read_text() == "colour: navy\n"
        assert [p.read_text() for p in copies(d, "notes")] == ["colour: teal\n"]
        [rec] = conflicts_json(d)
        assert rec["path"] == "notes.txt"
    assert_no_markers(a, b)
    assert_same(net)


def test_editing_a_conflicted_file_again_keeps_the_record(tmp_path: Path) -> None:
    net, copy_name = _conflicted_net(tmp_path)
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text("colour: blue, maybe\n")
    sync(a, expect=1)
    sync(b, expect=1)
    assert (b / "notes.txt").read_text() == "colour: blue, maybe\n"
    assert (b / copy_name).read_text() == "colour: green\n"
    assert len(conflicts_json(b)) == 1
    assert_same(net)


def test_resolve_by_naming_the_conflict_copy(tmp_path: Path) -> None:
    net, copy_name = _conflicted_net(tmp_path)
    b = net["B"]
    code, out, _ = run_cli("conflicts", str(b))
    assert code == 0
    assert f"{b}/notes.txt\tcontent\tdesktop vs laptop\t" in out and copy_name in out
    code, out, err = run_cli("resolve", copy_name, "--theirs", cwd=b)
    assert code == 0, err
    assert out.startswith("Resolved notes.txt")
    assert (b / "notes.txt").read_text() == "colour: green\n"
    sync_all(net, rounds=1)
    code, out, _ = run_cli("conflicts", str(net["A"]))
    assert out == "No conflicts.\n"
    assert_same(net)


def test_resolving_a_path_without_conflict_is_exit_2(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": "x\n"})
    code, _, err = run_cli("resolve", "notes.txt", "--ours", cwd=net["A"])
    assert code == 2 and "no recorded conflict" in err


# ---------------------------------------------------------------------------- offline, stopped
def test_offline_device_queues_commits_and_pushes_them_later(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    away = tmp_path / "hub-away"
    shutil.move(net.hub, away)
    n = commit_count(a)
    for i in range(3):
        (a / f"offline-{i}.txt").write_text(f"{i}\n")
        code, _, err = run_cli("sync", str(a))
        assert code == 3, err
        assert err.startswith("gitsync: ") and err.count("\n") == 1
    assert commit_count(a) == n + 3
    assert git(a, "status", "--porcelain") == ""
    shutil.move(away, net.hub)
    (b / "notes.txt").write_text(LINES + "from desktop meanwhile\n")
    sync(b)
    rep = sync(a)
    assert rep["action"] == "merged" and rep["pushed"] == head(a)
    assert (a / "notes.txt").read_text() == LINES + "from desktop meanwhile\n"
    sync(b)
    for i in range(3):
        assert (b / f"offline-{i}.txt").read_text() == f"{i}\n"
    assert_same(net)


def test_stopped_device_commits_its_users_edits_before_merging(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "todo.txt": "t\n"})
    a, b = net["A"], net["B"]
    old_head = head(b)
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "line one\n"))
    (a / "fromA.txt").write_text("a\n")
    sync(a)
    remote_tip = head(a)
    # B was not running meanwhile; its user edited two files.
    (b / "notes.txt").write_text(LINES.replace("line 10\n", "line ten\n"))
    (b / "todo.txt").write_text("t\nmore\n")
    rep = sync(b)
    assert rep["action"] == "merged"
    user = rep["committed"]
    assert user["parents"] == [old_head]
    assert sorted(c["path"] for c in user["changes"]) == ["notes.txt", "todo.txt"]
    merge = head(b)
    assert parents(b, merge) == [user["id"], remote_tip]
    assert git(b, "show", f"{user['id']}:notes.txt") == \
        LINES.replace("line 10\n", "line ten\n")
    assert (b / "notes.txt").read_text() == \
        LINES.replace("line 1\n", "line one\n").replace("line 10\n", "line ten\n")
    assert (b / "todo.txt").read_text() == "t\nmore\n"
    assert (b / "fromA.txt").read_text() == "a\n"
    sync(a)
    assert_same(net)


def test_a_save_during_the_round_is_committed_first_and_merged(tmp_path: Path) -> None:
    """The user saves just after the fetch (a reference-transaction hook does it, at a fixed
    point): the round must not overwrite the save; it commits it and merges again."""
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n"))
    sync(a)
    remote_tip = head(a)
    flag = tmp_path / "saved-once"
    saved = tmp_path / "saved.txt"
    saved.write_text(LINES.replace("line 10\n", "TEN\n"))
    hook = b / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\n"
                    '[ "$1" = committed ] || exit 0\n'
                    f"[ -e '{flag}' ] && exit 0\n"
                    f"touch '{flag}'\n"
                    f"cp '{saved}' '{b / 'notes.txt'}'\n")
    hook.chmod(0o755)
    old_head = head(b)
    rep = sync(b)
    assert flag.exists()
    assert rep["action"] == "merged"
    want = LINES.replace("line 1\n", "ONE\n").replace("line 10\n", "TEN\n")
    assert (b / "notes.txt").read_text() == want
    first_parent, second_parent = parents(b)
    assert second_parent == remote_tip
    assert parents(b, first_parent) == [old_head]
    assert git(b, "show", f"{first_parent}:notes.txt") == saved.read_text()
    hook.unlink()
    sync(a)
    assert_same(net)


def test_a_push_beaten_by_another_device_goes_round_again(tmp_path: Path) -> None:
    """Another device pushes between this round's fetch and its push (a hook does it at
    that point): the push is refused, the round fetches, merges again and pushes."""
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n"))
    sync(a)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(net.hub), str(other))
    (other / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n").replace(
        "line 5\n", "FIVE\n"))
    git(other, "commit", "-qam", "phone: edited notes.txt")
    flag = tmp_path / "pushed-once"
    hook = b / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\n"
                    '[ "$1" = committed ] || exit 0\n'
                    f"[ -e '{flag}' ] && exit 0\n"
                    f"touch '{flag}'\n"
                    "unset $(git rev-parse --local-env-vars)\n"
                    f"git -C '{other}' push -q origin main\n")
    hook.chmod(0o755)
    (b / "notes.txt").write_text(LINES.replace("line 10\n", "TEN\n"))
    rep = sync(b)
    assert flag.exists()
    phone = git(other, "rev-parse", "HEAD").strip()
    assert rep["action"] == "merged" and rep["pushed"] == head(b)
    assert subprocess.run(["git", "merge-base", "--is-ancestor", phone, "HEAD"], cwd=b
                          ).returncode == 0
    want = LINES.replace("line 1\n", "ONE\n").replace("line 5\n", "FIVE\n").replace(
        "line 10\n", "TEN\n")
    assert (b / "notes.txt").read_text() == want
    assert git(net.hub, "rev-parse", "main").strip() == head(b)
    hook.unlink()
    sync(a)
    assert (a / "notes.txt").read_text() == want
    assert_same(net)


def test_a_local_file_too_large_to_commit_does_not_stall_syncing(tmp_path: Path,
                                                                  sealed_env: Path) -> None:
    """B holds a file over the size limit (never committed) at a path the remote adds:
    B's file stays as it is, and everything else still syncs."""
    net = make_net(tmp_path, {"k.txt": "k\n"})
    a, b = net["A"], net["B"]
    cfg = sealed_env / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace("[settings]", "[settings]\nsize_limit = 1000"))
    (b / "big.bin").write_bytes(b"z" * 5000)
    (a / "big.bin").write_bytes(b"small")
    (a / "k.txt").write_text("k2\n")
    sync(a)
    laptop = head(a)
    code, _, err = run_cli("sync", str(b))
    assert (b / "big.bin").read_bytes() == b"z" * 5000
    assert code in (0, 1), err
    assert (b / "k.txt").read_text() == "k2\n"
    assert subprocess.run(["git", "merge-base", "--is-ancestor", laptop, "HEAD"], cwd=b
                          ).returncode == 0
    # B's file is never committed (it is over the limit), so the laptop keeps its own
    code, _, err = run_cli("sync", str(b))
    assert code in (0, 1), err
    assert (b / "big.bin").read_bytes() == b"z" * 5000
    assert git(b, "show", "HEAD:big.bin") == "small"
    assert git(net.hub, "show", "main:big.bin") == "small"
    sync(a)
    assert (a / "big.bin").read_bytes() == b"small"


def test_a_file_this_device_ignores_is_never_pushed(tmp_path: Path, sealed_env: Path
                                                    ) -> None:
    """B ignores *.env (a per-folder setting); the laptop adds secret.env, while B has its
    own secret.env: B's file stays on B only, however many rounds run."""
    net = make_net(tmp_path, {"k.txt": "k\n"})
    a, b = net["A"], net["B"]
    cfg = sealed_env / "config" / "config.toml"
    key = f'[folders."{b}"]'
    assert key in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(key, key + '\nignore = ["*.env"]'))
    (b / "secret.env").write_text("PASSWORD=hunter2\n")
    (a / "secret.env").write_text("PLACEHOLDER=1\n")
    sync(a)
    for _ in range(3):
        code, _, err = run_cli("sync", str(b))
        assert code in (0, 1), err
        assert (b / "secret.env").read_text() == "PASSWORD=hunter2\n"
    code, _, err = run_cli("sync", str(a))
    assert code in (0, 1), err
    leaked = git(net.hub, "log", "--all", "-p", "--format=%H")
    assert "hunter2" not in leaked
    assert (a / "secret.env").read_text() == "PLACEHOLDER=1\n"


# ---------------------------------------------------------------------------- refused histories
def test_unrelated_history_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    other = tmp_path / "Other"
    other.mkdir()
    (other / "mine.txt").write_text("mine\n")
    init_device(other, "phone", "--remote", str(net.hub))
    before_head, before_files = head(other), files_of(other)
    hub_tip = git(net.hub, "rev-parse", "main").strip()
    code, _, err = run_cli("sync", str(other))
    assert code == 3
    assert "unrelated" in err
    assert head(other) == before_head and files_of(other) == before_files
    assert git(net.hub, "rev-parse", "main").strip() == hub_tip
    assert git(other, "status", "--porcelain") == ""
    # a second try says the same and still changes nothing
    code, _, err = run_cli("sync", str(other))
    assert code == 3 and "unrelated" in err
    assert head(other) == before_head


def test_rewritten_remote_history_is_refused(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    a = net["A"]
    (a / "notes.txt").write_text(LINES + "second\n")
    sync(a)
    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(net.hub), str(plain))
    git(plain, "reset", "-q", "--hard", "HEAD~1")
    (plain / "notes.txt").write_text("history rewritten\n")
    git(plain, "commit", "-qam", "rewrite")
    git(plain, "push", "-q", "--force", "origin", "main")
    before_head, before_files = head(a), files_of(a)
    known = git(a, "rev-parse", "origin/main").strip()
    code, _, err = run_cli("sync", str(a))
    assert code == 3
    assert "rewritten" in err and err.count("\n") == 1
    assert head(a) == before_head and files_of(a) == before_files
    assert git(a, "rev-parse", "origin/main").strip() == known
    assert git(a, "status", "--porcelain") == ""
    # The user keeps working: saves are committed locally, never merged into the
    # rewritten history, and the hub is left alone.
    (a / "local.txt").write_text("local edit\n")
    code, _, err = run_cli("sync", str(a))
    assert code == 3 and "rewritten" in err
    assert parents(a) == [before_head]
    assert git(a, "show", "HEAD:local.txt") == "local edit\n"
    assert (a / "notes.txt").read_text() == LINES + "second\n"
    assert git(net.hub, "show", "main:notes.txt") == "history rewritten\n"
    fsck_clean(a)


def _tree_bytes(entries: list[tuple[str, str, str]]) -> bytes:
    """Raw tree object bytes from (mode, name, hex oid), sorted as git sorts them."""
    def key(e: tuple[str, str, str]) -> bytes:
        return e[1].encode() + (b"/" if e[0] == "40000" else b"")

    return b"".join(f"{m} {n}".encode() + b"\0" + bytes.fromhex(o)
                    for m, n, o in sorted(entries, key=key))


def _hash(repo: Path, kind: str, data: bytes) -> str:
    r = subprocess.run(["git", "hash-object", "-t", kind, "--literally", "-w", "--stdin"],
                       cwd=repo, input=data, capture_output=True, check=True)
    return r.stdout.decode().strip()


def _hostile_commit(hub: Path, path: str) -> str:
    """A commit on top of the hub's main adding a harmless file and PATH (hand-made tree
    bytes: git itself refuses to build such trees)."""
    tip = git(hub, "rev-parse", "main").strip()
    oid, mode = _hash(hub, "blob", b"owned\n"), "100644"
    first, *rest = path.split("/")
    for comp in reversed(rest):  # innermost tree first
        oid = _hash(hub, "tree", _tree_bytes([(mode, comp, oid)]))
        mode = "40000"
    existing = []
    for line in git(hub, "ls-tree", "main").splitlines():
        meta, n = line.split("\t", 1)
        m, _t, o = meta.split()
        existing.append(("40000" if m == "040000" else m, n, o))
    innocent = ("100644", "innocent.txt", _hash(hub, "blob", b"harmless\n"))
    tree = _hash(hub, "tree", _tree_bytes([*existing, innocent, (mode, first, oid)]))
    commit = git(hub, "commit-tree", tree, "-p", tip, "-m", "hostile").strip()
    git(hub, "update-ref", "refs/heads/main", commit, tip)
    return commit


@pytest.mark.parametrize("path", ["../x", ".GIT/config", "git~1/x", ".git/hooks/post-merge",
                                  "sub/../../y"])
@pytest.mark.parametrize("local_edit", [False, True], ids=["fast-forward", "merge"])
def test_remote_commit_with_escaping_path_is_refused(tmp_path: Path, path: str,
                                                     local_edit: bool) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    a = net["A"]
    _hostile_commit(net.hub, path)
    if local_edit:  # A has a commit of its own, so the hostile one must be merged
        (a / "notes.txt").write_text(LINES + "local\n")
        assert run_cli("sync", str(a))[0] == 3
    before_head, before_files = head(a), files_of(a)
    git_config = (a / ".git" / "config").read_bytes()
    code, _, err = run_cli("sync", str(a))
    assert code == 3, err
    assert err.startswith("gitsync: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "refus" in err
    assert head(a) == before_head
    assert files_of(a) == before_files
    assert (a / ".git" / "config").read_bytes() == git_config
    assert not (a / "innocent.txt").exists()  # all or nothing
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert not (a / ".GIT").exists() and not (a / "git~1").exists()
    assert not (a / ".git" / "hooks" / "post-merge").exists()


@pytest.mark.parametrize("path", ["../x", ".GIT/config", "git~1/x"])
def test_cloning_a_hub_with_an_escaping_path_writes_nothing(tmp_path: Path, path: str
                                                            ) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES}, n=1)
    _hostile_commit(net.hub, path)
    existing = tmp_path / "Existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("mine\n")
    for target in (tmp_path / "New", existing):
        before = files_of(target) if target.exists() else None
        code, _, err = run_cli("clone", str(net.hub), str(target), "--device", "desktop")
        assert code == 3, err
        assert err.startswith("gitsync: ") and "Traceback" not in err
        if before is None:
            assert not target.exists()
        else:
            assert files_of(target) == before and not (target / ".git").exists()
        assert not (tmp_path / "x").exists()
    code, out, _ = run_cli("folders", "--json")
    assert [f["path"] for f in json.loads(out)["folders"]] == [str(net["A"])]


# ---------------------------------------------------------------------------- editors
@pytest.mark.parametrize(("name", "lock"), [("report.docx", "~$report.docx"),
                                            ("notes.txt", ".~lock.notes.txt#")])
def test_editor_lock_file_makes_the_incoming_change_wait(tmp_path: Path, name: str,
                                                         lock: str) -> None:
    net = make_net(tmp_path, {name: b"version 1\n", "other.txt": "o\n"})
    a, b = net["A"], net["B"]
    (b / lock).write_text("owner")
    (a / name).write_bytes(b"version 2\n")
    (a / "other.txt").write_text("o2\n")
    sync(a)
    rep = sync(b, clean=False)
    assert name in rep["waiting"] and "editor" in rep["waiting"][name]
    assert (b / name).read_bytes() == b"version 1\n"
    assert (b / "other.txt").read_text() == "o2\n"  # the rest is not held up
    assert head(b) == head(a)
    # Still open: the old content on disk is not committed as an edit of B's user.
    n = commit_count(b)
    rep = sync(b, clean=False)
    assert rep["committed"] is None and commit_count(b) == n
    assert (b / name).read_bytes() == b"version 1\n"
    assert git(b, "show", f"HEAD:{name}") == "version 2\n"
    assert lock not in git(b, "ls-files")
    assert name in rep["waiting"], "a file still waiting is not listed by sync --json"
    (b / lock).unlink()
    rep = sync(b)
    assert rep["waiting"] == {}
    assert (b / name).read_bytes() == b"version 2\n"
    assert rep["committed"] is None
    assert git(b, "status", "--porcelain", "--untracked-files=all") == ""
    sync(a)
    assert_same(net)


def test_a_waiting_file_in_a_merge_round(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "other.txt": "o\n"})
    a, b = net["A"], net["B"]
    (b / ".~lock.notes.txt#").write_text("owner")
    (a / "notes.txt").write_text(LINES + "from laptop\n")
    (b / "other.txt").write_text("o from desktop\n")
    sync(a)
    rep = sync(b, clean=False)
    assert rep["action"] == "merged" and "notes.txt" in rep["waiting"]
    assert (b / "notes.txt").read_text() == LINES
    n = commit_count(b)
    assert sync(b, clean=False)["committed"] is None and commit_count(b) == n
    (b / ".~lock.notes.txt#").unlink()
    sync(b)
    sync(a)
    for d in (a, b):
        assert (d / "notes.txt").read_text() == LINES + "from laptop\n"
        assert (d / "other.txt").read_text() == "o from desktop\n"
    assert_same(net)


def test_a_deletion_waits_for_the_editor_too(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "other.txt": "o\n"})
    a, b = net["A"], net["B"]
    (b / ".~lock.notes.txt#").write_text("owner")
    (a / "notes.txt").unlink()
    sync(a)
    rep = sync(b, clean=False)
    assert "notes.txt" in rep["waiting"]
    assert (b / "notes.txt").read_text() == LINES
    n = commit_count(b)
    sync(b, clean=False)
    assert commit_count(b) == n  # the open file is not re-added as B's edit
    assert git(b, "ls-tree", "--name-only", "HEAD").split() == ["other.txt"]
    (b / ".~lock.notes.txt#").unlink()
    sync(b)
    assert not (b / "notes.txt").exists()
    sync(a)
    assert_same(net)


def test_saving_a_file_that_waited_for_its_editor_keeps_the_incoming_change(tmp_path: Path
                                                                           ) -> None:
    """The user saves the old version they had open (with an edit of their own) after the
    other device's change arrived: both edits touch different lines, so both are kept."""
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    (b / ".~lock.notes.txt#").write_text("owner")
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n"))
    sync(a)
    assert "notes.txt" in sync(b, clean=False)["waiting"]
    (b / "notes.txt").write_text(LINES.replace("line 10\n", "TEN\n"))
    (b / ".~lock.notes.txt#").unlink()
    sync(b)
    sync(a)
    want = LINES.replace("line 1\n", "ONE\n").replace("line 10\n", "TEN\n")
    for d in (a, b):
        assert (d / "notes.txt").read_text() == want, d
    assert_same(net)


def test_saves_while_the_editor_stays_open_are_merged_and_written_after(tmp_path: Path
                                                                       ) -> None:
    """The user keeps the file open and saves twice while the other device's change waits:
    each save is merged with it in history at once; the disk keeps the user's save until
    the editor closes, then shows the merged version."""
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    lock = b / ".~lock.notes.txt#"
    lock.write_text("owner")
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n"))
    sync(a)
    assert "notes.txt" in sync(b, clean=False)["waiting"]
    first = LINES.replace("line 10\n", "TEN\n")
    (b / "notes.txt").write_text(first)
    rep = sync(b, clean=False)
    assert "notes.txt" in rep["waiting"]
    assert (b / "notes.txt").read_text() == first  # never replaced under the editor
    assert git(b, "show", "HEAD:notes.txt") == first.replace("line 1\n", "ONE\n")
    second = first.replace("line 5\n", "FIVE\n")
    (b / "notes.txt").write_text(second)
    sync(b, clean=False)
    assert (b / "notes.txt").read_text() == second
    want = second.replace("line 1\n", "ONE\n")
    assert git(b, "show", "HEAD:notes.txt") == want
    lock.unlink()
    rep = sync(b)
    assert rep["waiting"] == {}
    assert (b / "notes.txt").read_text() == want
    sync(a)
    assert (a / "notes.txt").read_text() == want
    assert_same(net)


def test_deleting_a_file_whose_incoming_edit_waited_keeps_the_edit(tmp_path: Path) -> None:
    """Modified there, deleted here (the user deleted the old version they had open): as
    for any modify/delete, the modified file stays."""
    net = make_net(tmp_path, {"notes.txt": LINES, "k.txt": "k\n"})
    a, b = net["A"], net["B"]
    (b / ".~lock.notes.txt#").write_text("owner")
    (a / "notes.txt").write_text(LINES + "important addition\n")
    sync(a)
    assert "notes.txt" in sync(b, clean=False)["waiting"]
    (b / ".~lock.notes.txt#").unlink()
    (b / "notes.txt").unlink()
    sync(b)
    sync(a)
    for d in (a, b):
        assert (d / "notes.txt").read_text() == LINES + "important addition\n", d
    assert_same(net)


def test_a_conflicting_save_to_a_waiting_file_keeps_both(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": "Meeting on Monday.\n"})
    a, b = net["A"], net["B"]
    (b / ".~lock.notes.txt#").write_text("owner")
    (a / "notes.txt").write_text("Meeting on Tuesday.\n")
    sync(a)
    sync(b, clean=False)
    (b / "notes.txt").write_text("Meeting on Friday.\n")
    (b / ".~lock.notes.txt#").unlink()
    sync(b, expect=1)
    sync(a, expect=1)
    for d in (a, b):
        texts = {p.read_text() for p in [d / "notes.txt", *copies(d, "notes")]}
        assert texts == {"Meeting on Tuesday.\n", "Meeting on Friday.\n"}
        assert len(conflicts_json(d)) == 1
    assert (b / "notes.txt").read_text() == "Meeting on Friday.\n"  # the user's save stays
    assert_no_markers(a, b)
    assert_same(net)


# ---------------------------------------------------------------------------- a busy writer
@pytest.mark.slow
@pytest.mark.parametrize("save", ["in-place", "atomic"])
def test_a_writer_saving_all_the_time_is_never_overwritten(tmp_path: Path, save: str) -> None:
    """A program saves log.txt on A every 50 ms for 3 s (rewriting it in place, or through a
    temp file and a rename, as GNOME apps do) while A and B sync in a loop and B keeps
    editing another file, so A merges in most rounds."""
    net = make_net(tmp_path, {"log.txt": "v0\n", "other.txt": "o\n"})
    a, b = net["A"], net["B"]
    written: list[bytes] = [b"v0\n"]
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                i += 1
                data = b"".join(b"v%d line %d\n" % (i, k) for k in range(i))
                written.append(data)
                if save == "atomic":
                    tmp = a / f".goutputstream-{i}"
                    tmp.write_bytes(data)
                    os.replace(tmp, a / "log.txt")
                else:
                    with open(a / "log.txt", "wb") as fh:
                        fh.write(data)
                time.sleep(0.05)
        except BaseException as e:  # surfaced in the main thread
            failures.append(e)
        finally:
            stop.set()

    t = threading.Thread(target=writer, name="busy-writer")
    t.start()
    try:
        rounds = 0
        while not stop.is_set():
            (b / "other.txt").write_text(f"o{rounds}\n")
            for d in (a, b):
                code, _, err = run_cli("sync", str(d))
                assert code == 0, err
            rounds += 1
    finally:
        t.join()
    assert not failures, failures
    assert rounds >= 2
    assert int(git(a, "rev-list", "--merges", "--count", "HEAD")) >= 1
    sync(a)
    sync(b)
    last = written[-1]
    assert (a / "log.txt").read_bytes() == last
    assert (b / "log.txt").read_bytes() == last
    versions = set(written)
    revs = git(a, "rev-list", "HEAD", "--", "log.txt").split()
    assert len(revs) >= 3
    for rev in revs:
        blob = subprocess.run(["git", "show", f"{rev}:log.txt"], cwd=a,
                              capture_output=True, check=True).stdout
        assert blob in versions, f"{rev} holds a version nobody wrote: {blob[:60]!r}"
    assert_same(net)


# ---------------------------------------------------------------------------- clone
def test_clone_into_a_folder_with_files_keeps_them(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": "from laptop\n", "shared.txt": "same\n"})
    b = tmp_path / "Existing"
    b.mkdir()
    (b / "notes.txt").write_text("my own notes\n")
    (b / "shared.txt").write_text("same\n")
    (b / "mine.txt").write_text("only here\n")
    code, out, err = run_cli("clone", str(net.hub), str(b), "--device", "desktop", "--json")
    assert code == 0, err
    doc = json.loads(out)
    [rec] = doc["conflicts"]
    assert rec["path"] == "notes.txt" and rec["kind"] == "add-add"
    assert (b / "notes.txt").read_text() == "my own notes\n"
    assert (b / rec["copy_path"]).read_text() == "from laptop\n"
    assert (b / "mine.txt").read_text() == "only here\n"
    assert (b / "shared.txt").read_text() == "same\n"
    assert "(conflict laptop " in rec["copy_path"]
    net.devices["B"] = b
    sync(b, expect=1)
    sync(net["A"], expect=1)
    a = net["A"]
    assert (a / "mine.txt").read_text() == "only here\n"
    assert (a / "notes.txt").read_text() == "my own notes\n"
    assert (a / rec["copy_path"]).read_text() == "from laptop\n"
    assert [r["path"] for r in conflicts_json(a)] == ["notes.txt"]
    assert_same(net)


def test_clone_where_a_file_here_is_a_folder_there_keeps_both(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"docs/a.txt": "remote a\n", "notes.txt": "remote notes\n"},
                   n=1)
    b = tmp_path / "B"
    b.mkdir()
    (b / "docs").write_text("my docs file\n")
    (b / "notes.txt").mkdir()
    (b / "notes.txt" / "inner.txt").write_text("mine inside\n")
    code, out, err = run_cli("clone", str(net.hub), str(b), "--device", "desktop", "--json")
    assert code == 0, err
    assert (b / "docs").read_text() == "my docs file\n"
    assert (b / "notes.txt" / "inner.txt").read_text() == "mine inside\n"
    on_disk = files_of(b)
    assert b"remote a\n" in on_disk.values() and b"remote notes\n" in on_disk.values()
    assert len(json.loads(out)["conflicts"]) == 2


def test_clone_never_writes_through_a_symlink_the_user_has(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"docs/a.txt": "remote a\n"}, n=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    b = tmp_path / "B"
    b.mkdir()
    os.symlink(outside, b / "docs")
    code, _, err = run_cli("clone", str(net.hub), str(b), "--device", "desktop")
    assert list(outside.iterdir()) == []
    assert (b / "docs").is_symlink()
    if code == 0:
        assert b"remote a\n" in files_of(b).values()
    else:
        assert code == 3 and "Traceback" not in err and not (b / ".git").exists()


# ---------------------------------------------------------------------------- merge-file, driver
def test_merge_file_marks_conflicts_and_exit_status(tmp_path: Path) -> None:
    base, ours, theirs = (tmp_path / n for n in ("base.txt", "ours.txt", "theirs.txt"))
    base.write_text("alpha\nbeta\ngamma\n")
    ours.write_text("alpha\nBETA ours\ngamma\n")
    theirs.write_text("alpha\nbeta theirs\ngamma\n")
    out = tmp_path / "out.txt"
    code, _, err = run_cli("merge-file", str(base), str(ours), str(theirs), "-o", str(out))
    assert code == 1, err
    text = out.read_text()
    assert text.startswith("alpha\n<<<<<<< ")
    assert "BETA ours\n=======\nbeta theirs\n>>>>>>> " in text
    assert text.endswith("gamma\n")
    theirs.write_text("alpha\nbeta\ngamma\ndelta\n")
    code, _, err = run_cli("merge-file", str(base), str(ours), str(theirs))
    assert code == 0, err
    assert ours.read_text() == "alpha\nBETA ours\ngamma\ndelta\n"  # over OURS, as git does


def test_merge_driver_merges_word_edits_in_a_plain_git_merge(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    line = "The quick brown fox jumps over the lazy dog.\n"
    (repo / "story.txt").write_text(line)
    git(repo, "add", "story.txt")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "other")
    (repo / "story.txt").write_text(line.replace("quick", "swift"))
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "story.txt").write_text(line.replace("lazy", "sleepy"))
    git(repo, "commit", "-qam", "main")
    # Without the driver git conflicts on the line...
    r = subprocess.run(["git", "merge", "--no-edit", "other"], cwd=repo, capture_output=True,
                       text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    git(repo, "merge", "--abort")
    code, _, err = run_cli("merge-driver", "--install", str(repo))
    assert code == 0, err
    r = subprocess.run(["git", "merge", "--no-edit", "other"], cwd=repo, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (repo / "story.txt").read_text() == \
        "The swift brown fox jumps over the sleepy dog.\n"
    assert len(parents(repo)) == 2
    assert git(repo, "status", "--porcelain") == ""
    fsck_clean(repo)


def test_an_empty_folder_joining_with_init_remote_gets_everything(tmp_path: Path) -> None:
    """`init --remote` on an empty folder with a hub that already has history: the first
    sync is an initial checkout that creates the branch."""
    net = make_net(tmp_path, {"notes.txt": LINES, "sub/a.txt": "a\n"}, n=1)
    c = tmp_path / "Joiner"
    c.mkdir()
    code, _, err = run_cli("init", str(c), "--remote", str(net.hub), "--device", "tablet")
    assert code == 0, err
    rep = sync(c)
    assert rep["action"] == "initial"
    assert (c / "notes.txt").read_text() == LINES
    assert (c / "sub" / "a.txt").read_text() == "a\n"
    assert git(c, "rev-parse", "HEAD") == git(net["A"], "rev-parse", "HEAD")
    assert git(c, "status", "--porcelain") == ""
