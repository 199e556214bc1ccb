"""Concurrent edits that merge cleanly: different lines, words, files, renames against
edits, Word documents, line endings, encodings and file modes; ``merge-file`` and the git
merge driver.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests import docx_builders
from tests.helpers import fsck_clean, git, run_cli
from tests.sync_helpers import (
    LINES,
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
        lines = docx_lines(d / "report.docx")
        assert lines[1] == "Paragraph 1 rewritten on the laptop."
        assert lines[3] == "Paragraph 3 rewritten on the desktop."
        assert lines[0] == lines[0].strip() and len(lines) == 5
        assert copies(d, "report") == []
    assert_same(net)



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

