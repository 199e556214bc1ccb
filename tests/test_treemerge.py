"""Path-by-path tree merges (gitsync.treemerge.TreeMerger) on real repositories.

Histories are built with the git CLI (blobs, a private index, commit-tree), merged with the
default merger registry, and the result tree is read back with ``git ls-tree``/``git show``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitsync.conflicts import ConflictRecord
from gitsync.merge.registry import default_registry
from gitsync.repo import Repo
from gitsync.treemerge import TreeMerge, TreeMerger
from tests.helpers import git

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
STAMP = "2026-01-02 030405"
LINES = "".join(f"line {i}\n" for i in range(1, 11))

File = str | bytes | tuple[bytes | str, str]  # content, or (content, mode)


class History:
    """Commits made from {path: content} dicts, through the git CLI only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        self.index = root / ".git" / "builder-index"
        self._blobs: dict[bytes, str] = {}
        self.fast_import = False

    def _git(self, *args: str, data: bytes | None = None) -> str:
        env = {**os.environ, "GIT_INDEX_FILE": str(self.index)}
        r = subprocess.run(["git", *args], cwd=self.root, input=data, capture_output=True,
                           env=env, check=True)
        return r.stdout.decode().strip()

    def commit(self, files: Mapping[str, File], *parents: str) -> str:
        self.index.unlink(missing_ok=True)
        lines = []
        for path, spec in files.items():
            content, mode = spec if isinstance(spec, tuple) else (spec, "100644")
            data = content.encode() if isinstance(content, str) else content
            oid = self._blobs.get(data) or self._git("hash-object", "-w", "--stdin", data=data)
            self._blobs[data] = oid
            lines.append(f"{mode} {oid}\t{path}\n")
        self._git("update-index", "--index-info", data="".join(lines).encode())
        tree = self._git("write-tree")
        args = [a for p in parents for a in ("-p", p)]
        return self._git("commit-tree", tree, *args, "-m", "snapshot")


@pytest.fixture(params=["libgit2", "fast-import"])
def hist(tmp_path: Path, request: pytest.FixtureRequest) -> History:
    """Each merge is written both ways Repo.commit_updates can write it: object by object
    through libgit2, and in one pack through git fast-import."""
    h = History(tmp_path / "repo")
    h.fast_import = request.param == "fast-import"
    return h


def merge(hist: History, base: Mapping[str, File], ours: Mapping[str, File],
          theirs: Mapping[str, File]) -> tuple[TreeMerge, dict[str, tuple[str, bytes]]]:
    """Merge OURS and THEIRS (both children of BASE); returns the TreeMerge and the merged
    tree as {path: (mode, bytes)} read back with git."""
    b = hist.commit(base)
    o = hist.commit(ours, b)
    t = hist.commit(theirs, b)
    repo = Repo(hist.root)
    tm = TreeMerger(repo, default_registry(), ours_device="here", theirs_device="there",
                    now=NOW, defer_blobs=True).merge(b, o, t)
    commit = repo.commit_updates(o, tm.updates, tm.blobs, [o, t], "merged",
                                 repo.author("here"),
                                 fast_import_min=0 if hist.fast_import else 10**9)
    assert git(hist.root, "rev-parse", f"{commit}^1", f"{commit}^2").split() == [o, t]
    assert git(hist.root, "for-each-ref") == ""  # no ref moved or left behind
    tree = git(hist.root, "rev-parse", f"{commit}^{{tree}}").strip()
    listing = []
    for line in git(hist.root, "ls-tree", "-r", "-z", tree).split("\0"):
        if line:
            meta, path = line.split("\t", 1)
            mode, _kind, oid = meta.split()
            listing.append((path, mode, oid))
    batch = subprocess.run(["git", "cat-file", "--batch"], cwd=hist.root, check=True,
                           input="".join(f"{oid}\n" for _p, _m, oid in listing).encode(),
                           capture_output=True).stdout
    out = {}
    for path, mode, _oid in listing:  # "<oid> blob <size>\n<data>\n" each
        header, batch = batch.split(b"\n", 1)
        size = int(header.split()[2])
        out[path] = (mode, batch[:size])
        batch = batch[size + 1:]
    return tm, out


def content(tree: dict[str, tuple[str, bytes]]) -> dict[str, bytes]:
    return {p: d for p, (_m, d) in tree.items() if not p.startswith(".gitsync/")}


# ---------------------------------------------------------------------------- one side only
def test_a_path_only_theirs_changed_takes_theirs(hist: History) -> None:
    base = {"notes.txt": LINES, "todo.txt": "t\n"}
    tm, tree = merge(hist, base, {**base, "todo.txt": "t\nours\n"},
                     {**base, "notes.txt": LINES + "theirs\n"})
    assert tm.conflicts == []
    assert content(tree) == {"notes.txt": (LINES + "theirs\n").encode(),
                             "todo.txt": b"t\nours\n"}


def test_a_path_only_theirs_changed_while_ours_added_a_file(hist: History) -> None:
    base = {"notes.txt": LINES}
    tm, tree = merge(hist, base, {**base, "new.txt": "n\n"},
                     {"notes.txt": LINES + "theirs\n"})
    assert tm.conflicts == []
    assert content(tree) == {"notes.txt": (LINES + "theirs\n").encode(), "new.txt": b"n\n"}


def test_theirs_adds_and_deletes_while_ours_edits(hist: History) -> None:
    base = {"a.txt": "a\n", "gone.txt": "g\n"}
    tm, tree = merge(hist, base, {"a.txt": "a\nours\n", "gone.txt": "g\n"},
                     {"a.txt": "a\n", "added.txt": "new\n"})
    assert tm.conflicts == []
    assert content(tree) == {"a.txt": b"a\nours\n", "added.txt": b"new\n"}


def test_same_change_on_both_sides_is_no_conflict(hist: History) -> None:
    base = {"notes.txt": LINES}
    same = {"notes.txt": LINES + "both\n"}
    tm, tree = merge(hist, base, same, same)
    assert tm.conflicts == [] and content(tree) == {"notes.txt": (LINES + "both\n").encode()}


# ---------------------------------------------------------------------------- content merges
def test_different_lines_merge_and_are_reported(hist: History) -> None:
    base = {"notes.txt": LINES}
    tm, tree = merge(hist, base, {"notes.txt": LINES.replace("line 1\n", "ONE\n")},
                     {"notes.txt": LINES.replace("line 10\n", "TEN\n")})
    assert tm.conflicts == [] and tm.merged_paths == ["notes.txt"]
    assert tree["notes.txt"][1] == LINES.replace("line 1\n", "ONE\n").replace(
        "line 10\n", "TEN\n").encode()


def test_conflict_keeps_ours_writes_a_copy_and_a_record(hist: History) -> None:
    base = {"notes.txt": "Monday\n"}
    tm, tree = merge(hist, base, {"notes.txt": "Tuesday\n"}, {"notes.txt": "Friday\n"})
    [rec] = tm.conflicts
    copy = f"notes (conflict there {STAMP}).txt"
    assert rec.path == "notes.txt" and rec.copy_path == copy
    assert (rec.ours_device, rec.theirs_device) == ("here", "there")
    assert rec.time == NOW and not rec.in_document
    assert tree["notes.txt"][1] == b"Tuesday\n"
    assert tree[copy][1] == b"Friday\n"
    stored = ConflictRecord.loads(tree[rec.record_path][1])
    assert stored == rec
    assert stored.hunks and stored.hunks[0].ours == "Tuesday\n"
    assert stored.hunks[0].theirs == "Friday\n" and stored.hunks[0].base == "Monday\n"
    assert b"<<<<<<<" not in tree["notes.txt"][1]


def test_conflict_copy_of_a_dotfile_and_of_a_nested_file(hist: History) -> None:
    base: dict[str, File] = {".bashrc": "a\n", "dir/sub/x.tar.gz": b"\x1f\x8b old"}
    tm, tree = merge(hist, base, {".bashrc": "b\n", "dir/sub/x.tar.gz": b"\x1f\x8b ours"},
                     {".bashrc": "c\n", "dir/sub/x.tar.gz": b"\x1f\x8b theirs"})
    assert {r.copy_path for r in tm.conflicts} == {
        f".bashrc (conflict there {STAMP})", f"dir/sub/x.tar (conflict there {STAMP}).gz"}
    assert tree[f"dir/sub/x.tar (conflict there {STAMP}).gz"][1] == b"\x1f\x8b theirs"
    assert tree["dir/sub/x.tar.gz"][1] == b"\x1f\x8b ours"


def test_binary_conflict_keeps_both_bytes(hist: History) -> None:
    blob = bytes(range(256))
    tm, tree = merge(hist, {"img.bin": blob}, {"img.bin": blob + b"\0ours"},
                     {"img.bin": blob + b"\0theirs"})
    [rec] = tm.conflicts
    assert tree["img.bin"][1] == blob + b"\0ours"
    assert rec.copy_path is not None and tree[rec.copy_path][1] == blob + b"\0theirs"


# ---------------------------------------------------------------------------- renames, deletes
def test_theirs_renamed_ours_edited(hist: History) -> None:
    base = {"draft.txt": LINES}
    tm, tree = merge(hist, base, {"draft.txt": LINES.replace("line 5\n", "FIVE\n")},
                     {"final.txt": LINES})
    assert tm.conflicts == []
    assert content(tree) == {"final.txt": LINES.replace("line 5\n", "FIVE\n").encode()}


def test_ours_renamed_theirs_edited(hist: History) -> None:
    base = {"draft.txt": LINES}
    tm, tree = merge(hist, base, {"final.txt": LINES},
                     {"draft.txt": LINES.replace("line 5\n", "FIVE\n")})
    assert tm.conflicts == []
    assert content(tree) == {"final.txt": LINES.replace("line 5\n", "FIVE\n").encode()}


def test_both_renamed_differently_keeps_ours_name_with_a_note(hist: History) -> None:
    base = {"draft.txt": LINES}
    tm, tree = merge(hist, base, {"mine.txt": LINES},
                     {"yours.txt": LINES.replace("line 2\n", "TWO\n")})
    assert tm.conflicts == []
    assert content(tree) == {"mine.txt": LINES.replace("line 2\n", "TWO\n").encode()}
    assert any("mine.txt" in n and "yours.txt" in n for n in tm.notes)


@pytest.mark.parametrize("deleted_by", ["ours", "theirs"])
def test_modified_vs_deleted_keeps_the_modified_file(hist: History, deleted_by: str) -> None:
    base = {"notes.txt": LINES, "keep.txt": "k\n"}
    edited = {"notes.txt": LINES + "edit\n", "keep.txt": "k\n"}
    deleted = {"keep.txt": "k\n"}
    ours, theirs = (deleted, edited) if deleted_by == "ours" else (edited, deleted)
    tm, tree = merge(hist, base, ours, theirs)
    assert tm.conflicts == []
    assert content(tree) == {"notes.txt": (LINES + "edit\n").encode(), "keep.txt": b"k\n"}
    assert any(n.startswith("notes.txt: kept") for n in tm.notes)


def test_both_deleted_stays_deleted(hist: History) -> None:
    base = {"notes.txt": LINES, "keep.txt": "k\n"}
    tm, tree = merge(hist, base, {"keep.txt": "k\n"}, {"keep.txt": "k\n"})
    assert tm.conflicts == [] and content(tree) == {"keep.txt": b"k\n"}


def test_rename_of_a_file_we_deleted_stays_deleted(hist: History) -> None:
    base = {"notes.txt": LINES, "keep.txt": "k\n"}
    tm, tree = merge(hist, base, {"keep.txt": "k\n"}, {"renamed.txt": LINES, "keep.txt": "k\n"})
    assert tm.conflicts == [] and content(tree) == {"keep.txt": b"k\n"}


def test_theirs_renamed_and_edited_a_file_we_deleted_is_kept(hist: History) -> None:
    base = {"notes.txt": LINES, "keep.txt": "k\n"}
    tm, tree = merge(hist, base, {"keep.txt": "k\n"},
                     {"renamed.txt": LINES + "edited\n", "keep.txt": "k\n"})
    assert tm.conflicts == []
    assert content(tree) == {"renamed.txt": (LINES + "edited\n").encode(), "keep.txt": b"k\n"}
    assert any("renamed.txt" in n for n in tm.notes)


def test_theirs_renamed_onto_a_path_we_added(hist: History) -> None:
    base = {"draft.txt": LINES}
    tm, tree = merge(hist, base, {"draft.txt": LINES, "final.txt": "our own final\n"},
                     {"final.txt": LINES})
    [rec] = tm.conflicts
    assert rec.path == "final.txt" and rec.kind == "add-add"
    assert "draft.txt" not in tree
    assert tree["final.txt"][1] == b"our own final\n"
    assert rec.copy_path and tree[rec.copy_path][1] == LINES.encode()


def test_theirs_renamed_onto_a_folder_of_ours(hist: History) -> None:
    base = {"draft.txt": LINES}
    tm, tree = merge(hist, base, {"draft.txt": LINES, "final/inside.txt": "i\n"},
                     {"final": LINES})
    [rec] = tm.conflicts
    assert rec.kind == "path"
    assert tree["final/inside.txt"][1] == b"i\n"
    assert tree[f"final (conflict there {STAMP})"][1] == LINES.encode()


# ---------------------------------------------------------------------------- additions
def test_add_add_different_content_is_a_conflict(hist: History) -> None:
    base = {"keep.txt": "k\n"}
    tm, tree = merge(hist, base, {**base, "todo.txt": "milk\n"},
                     {**base, "todo.txt": "bread\n"})
    [rec] = tm.conflicts
    assert rec.kind == "add-add" and rec.base is None
    assert tree["todo.txt"][1] == b"milk\n"
    assert rec.copy_path and tree[rec.copy_path][1] == b"bread\n"


def test_add_add_same_content_is_clean(hist: History) -> None:
    base = {"keep.txt": "k\n"}
    tm, tree = merge(hist, base, {**base, "x.txt": "same\n"}, {**base, "x.txt": "same\n"})
    assert tm.conflicts == [] and content(tree)["x.txt"] == b"same\n"


def test_file_here_folder_there_keeps_both(hist: History) -> None:
    base = {"keep.txt": "k\n"}
    tm, tree = merge(hist, base, {**base, "a": "a file\n"}, {**base, "a/b.txt": "in a dir\n"})
    [rec] = tm.conflicts
    assert rec.kind == "path" and rec.path == "a/b.txt"
    assert tree["a"][1] == b"a file\n"
    assert tree[f"a (conflict there {STAMP})/b.txt"][1] == b"in a dir\n"


def test_conflict_records_are_never_content_merged(hist: History) -> None:
    base = {"keep.txt": "k\n"}
    rec = ".gitsync/conflicts/0123456789abcdef.json"
    tm, tree = merge(hist, base, {**base, rec: '{"a": 1}\n'}, {**base, rec: '{"b": 2}\n'})
    assert tm.conflicts == []
    assert tree[rec][1] == b'{"a": 1}\n'


# ---------------------------------------------------------------------------- modes
@pytest.mark.parametrize("chmod_side", ["ours", "theirs"])
def test_executable_bit_set_on_one_side_is_kept(hist: History, chmod_side: str) -> None:
    script = "#!/bin/sh\necho 1\necho 2\necho 3\necho 4\n"
    edited = script.replace("echo 4", "echo FOUR")
    chmodded: dict[str, File] = {"run.sh": (script, "100755")}
    changed: dict[str, File] = {"run.sh": edited}
    ours, theirs = (chmodded, changed) if chmod_side == "ours" else (changed, chmodded)
    tm, tree = merge(hist, {"run.sh": script}, ours, theirs)
    assert tm.conflicts == []
    assert tree["run.sh"] == ("100755", edited.encode())


def test_mode_only_change_on_theirs_is_taken(hist: History) -> None:
    base = {"run.sh": "echo\n", "other.txt": "o\n"}
    tm, tree = merge(hist, base, {**base, "other.txt": "o2\n"},
                     {**base, "run.sh": ("echo\n", "100755")})
    assert tm.conflicts == []
    assert tree["run.sh"] == ("100755", b"echo\n")
    assert tree["other.txt"][1] == b"o2\n"


def test_symlinks_changed_both_ways_conflict_and_keep_ours(hist: History) -> None:
    base = {"link": ("target-a", "120000")}
    tm, tree = merge(hist, base, {"link": ("target-b", "120000")},
                     {"link": ("target-c", "120000")})
    [rec] = tm.conflicts
    assert rec.kind == "symlink"
    assert tree["link"] == ("120000", b"target-b")
    assert rec.copy_path and tree[rec.copy_path] == ("120000", b"target-c")


def test_only_changed_paths_are_visited_in_a_large_tree(hist: History) -> None:
    """Merging is proportional to the changes, not the tree: with 3,000 unchanged files,
    the updates hold only what the other side changed."""
    base: dict[str, File] = {f"d{i % 30}/f{i}.txt": "same\n" for i in range(3000)}
    ours = {**base, "d1/f1.txt": "ours\n", "new-here.txt": "h\n"}
    theirs = {**base, "d2/f2.txt": "theirs\n", "new-there.txt": "t\n"}
    del theirs["d3/f3.txt"]
    tm, tree = merge(hist, base, ours, theirs)
    assert tm.conflicts == [] and tm.merged_paths == []
    assert set(tm.updates) == {"d2/f2.txt", "new-there.txt", "d3/f3.txt"}
    assert tm.updates["d3/f3.txt"] is None
    assert len(tree) == 3000 + 1
    assert tree["d1/f1.txt"][1] == b"ours\n" and tree["d2/f2.txt"][1] == b"theirs\n"
