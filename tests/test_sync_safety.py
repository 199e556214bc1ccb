"""What a sync refuses to do: take unrelated or rewritten history, write paths that escape
the folder or reach into ``.git``, write through a user's symlink, or replace a file an
editor has open (the incoming change waits for it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import commit_count, fsck_clean, git, run_cli
from tests.sync_helpers import (
    LINES,
    assert_no_markers,
    assert_same,
    conflicts_json,
    copies,
    files_of,
    head,
    init_device,
    make_net,
    parents,
    sync,
)


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



def _gitlink_commit(hub: Path, name: str) -> None:
    """A commit adding a submodule link (mode 160000) to a commit the hub does not hold."""
    tip = git(hub, "rev-parse", "main").strip()
    existing = []
    for line in git(hub, "ls-tree", "main").splitlines():
        meta, n = line.split("\t", 1)
        m, _t, o = meta.split()
        existing.append(("40000" if m == "040000" else m, n, o))
    tree = _hash(hub, "tree", _tree_bytes([*existing, ("160000", name, "1" * 40)]))
    commit = git(hub, "commit-tree", tree, "-p", tip, "-m", "submodule").strip()
    git(hub, "update-ref", "refs/heads/main", commit, tip)


@pytest.mark.parametrize("kind", ["overlong name", "submodule link"])
def test_an_unwritable_incoming_entry_is_refused_not_a_crash(tmp_path: Path, kind: str
                                                            ) -> None:
    # Found by the hostile-input suite: both used to escape as an untyped error (the
    # daemon's folder worker stopped): a 300-byte name failed in the dirty check's stat,
    # a submodule link in reading its "blob".
    net = make_net(tmp_path, {"notes.txt": LINES})
    a = net["A"]
    if kind == "overlong name":
        _hostile_commit(net.hub, "n" * 300 + ".txt")
    else:
        _gitlink_commit(net.hub, "sub")
    before_head, before_files = head(a), files_of(a)
    code, _, err = run_cli("sync", str(a))
    assert code == 3, err
    assert err.startswith("gitsync: ") and "Traceback" not in err and "refus" in err
    assert head(a) == before_head and files_of(a) == before_files
