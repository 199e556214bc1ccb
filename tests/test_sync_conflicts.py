"""True conflicts keep both versions on every device and are listed; resolving them from
any device clears them everywhere.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests import docx_builders
from tests.helpers import git, run_cli
from tests.sync_helpers import (
    LINES,
    Net,
    assert_no_markers,
    assert_same,
    conflicts_json,
    copies,
    docx_lines,
    files_of,
    head,
    make_net,
    parents,
    sync,
    sync_all,
)


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
            "The desktop's own take on it." in "\n".join(docx_lines(d / "report.docx"))
        assert any("laptop" in text for _k, _a, text in revs)
        docx_builders.assert_valid((d / "report.docx").read_bytes())
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

