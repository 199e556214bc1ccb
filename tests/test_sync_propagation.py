"""Edits, new files, deletions and odd names travel to every device; devices join a
hub that already has history (``clone``, ``init --remote``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import commit_count, git, run_cli
from tests.sync_helpers import (
    LINES,
    assert_same,
    conflicts_json,
    files_of,
    head,
    make_net,
    sync,
    sync_all,
)


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



def test_clone_flushes_the_disk_once_not_per_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Two fsyncs per cloned file made `gitsync clone` of a 100,000-file folder take minutes;
    # the files are flushed once (syncfs) before the first snapshot instead.
    net = make_net(tmp_path, {f"d{i % 4}/f{i}.txt": f"file {i}\n" for i in range(60)}, n=1)
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    b = tmp_path / "B"
    code, _out, err = run_cli("clone", str(net.hub), str(b), "--device", "desktop")
    assert code == 0, err
    assert len(list(b.rglob("f*.txt"))) == 60
    assert (b / "d1" / "f5.txt").read_text() == "file 5\n"
    assert len(calls) < 30, len(calls)
