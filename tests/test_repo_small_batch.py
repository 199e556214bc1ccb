"""A save's commit (a few paths) compares only the folder its changes are in; the list of
changes must stay what a diff of the whole trees says, checked with the git CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitsync.messages import batch_message
from gitsync.model import ChangeKind
from gitsync.repo import Repo, _common_dir
from tests.helpers import fsck_clean, git

FILES = {
    "top.txt": "top\n",
    "docs/a.txt": "alpha " * 20,
    "docs/b.txt": "bravo " * 20,
    "docs/run.sh": "#!/bin/sh\necho hi\n",
    "docs/sub/c.txt": "charlie " * 20,
    "other/d.txt": "delta " * 20,
}


def _write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def _edit(root: Path) -> list[str]:
    _write(root, "docs/sub/c.txt", "changed\n")
    return ["docs/sub/c.txt"]


def _rename_in_folder(root: Path) -> list[str]:
    (root / "docs/a.txt").rename(root / "docs/a2.txt")
    return ["docs/a.txt", "docs/a2.txt"]


def _rename_across_folders(root: Path) -> list[str]:
    (root / "docs/sub/c.txt").rename(root / "other/c.txt")
    return ["docs/sub/c.txt", "other/c.txt"]


def _file_becomes_folder(root: Path) -> list[str]:
    (root / "docs/b.txt").unlink()
    _write(root, "docs/b.txt/inside.txt", "now a folder\n")
    return ["docs/b.txt", "docs/b.txt/inside.txt"]


def _folder_replaces_a_file_above(root: Path) -> list[str]:
    (root / "top.txt").unlink()
    _write(root, "top.txt/deeper/g.txt", "golf\n")
    return ["top.txt/deeper/g.txt"]  # only the new file's event: the old file's is lost


def _exec_bit(root: Path) -> list[str]:
    os.chmod(root / "docs/run.sh", 0o755)
    return ["docs/run.sh"]


def _folder_emptied(root: Path) -> list[str]:
    (root / "other/d.txt").unlink()
    return ["other/d.txt"]


def _new_deep_folder(root: Path) -> list[str]:
    _write(root, "docs/new/deep/e.txt", "echo\n")
    _write(root, "docs/new/f.txt", "foxtrot\n")
    return ["docs/new/deep/e.txt", "docs/new/f.txt"]


def _edit_and_delete_in_two_folders(root: Path) -> list[str]:
    _write(root, "docs/a.txt", "edited\n")
    (root / "other/d.txt").unlink()
    return ["docs/a.txt", "other/d.txt"]


CASES: dict[str, Callable[[Path], list[str]]] = {
    "edit": _edit, "rename in a folder": _rename_in_folder,
    "rename across folders": _rename_across_folders,
    "file becomes a folder": _file_becomes_folder,
    "folder replaces a file above": _folder_replaces_a_file_above, "executable bit": _exec_bit,
    "folder emptied": _folder_emptied, "new deep folder": _new_deep_folder,
    "two folders": _edit_and_delete_in_two_folders,
}
GIT_KINDS = {"A": ChangeKind.ADDED, "D": ChangeKind.DELETED, "M": ChangeKind.MODIFIED,
             "R": ChangeKind.RENAMED}


def _git_changes(root: Path) -> set[tuple[str, ChangeKind, str | None]]:
    out = set()
    for line in git(root, "diff-tree", "-r", "-M100%", "--name-status", "HEAD~1",
                    "HEAD").splitlines():
        status, *names = line.split("\t")
        kind = GIT_KINDS[status[0]]
        if kind is ChangeKind.RENAMED:
            out.add((names[1], kind, names[0]))
        else:
            out.add((names[0], kind, None))
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_a_small_batch_lists_the_changes_git_sees(tmp_path: Path, case: str) -> None:
    root = tmp_path / "folder"
    root.mkdir()
    repo = Repo.init(root)
    for rel, text in FILES.items():
        _write(root, rel, text)
    first = repo.commit_paths(list(FILES), device="laptop", size_limit=10**9,
                              message_for=lambda ch: batch_message("laptop", ch))
    assert first.commit is not None
    paths = CASES[case](root)
    out = repo.commit_paths(paths, device="laptop", size_limit=10**9,
                            message_for=lambda ch: batch_message("laptop", ch))
    assert out.commit is not None
    mine = [(c.path, c.kind, c.old_path) for c in out.commit.changes]
    assert set(mine) == _git_changes(root)
    # The same list, in the same order, as the whole trees compared (history's view).
    full = repo._tree_changes(repo._tree(first.commit.id), repo._tree(out.commit.id))
    assert mine == [(c.path, c.kind, c.old_path) for c in full]
    assert out.commit.summary == git(root, "log", "-1", "--format=%s").strip()
    fsck_clean(root)


def test_common_dir() -> None:
    assert _common_dir(["a/b/c.txt"]) == "a/b"
    assert _common_dir(["a/b/c.txt", "a/b/d/e.txt"]) == "a/b"
    assert _common_dir(["a/b/c.txt", "a/x.txt"]) == "a"
    assert _common_dir(["a/b.txt", "c/d.txt"]) == ""
    assert _common_dir(["top.txt", "a/b.txt"]) == ""
    assert _common_dir(["ab/c.txt", "a/c.txt"]) == ""


def test_warm_up_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    root.mkdir()
    repo = Repo.init(root)
    repo.warm_up()  # an unborn branch: nothing to load, nothing breaks
    for rel, text in FILES.items():
        _write(root, rel, text)
    repo.commit_paths(list(FILES), device="laptop", size_limit=10**9,
                      message_for=lambda ch: batch_message("laptop", ch))
    _write(root, "docs/a.txt", "edited, not committed yet\n")

    def snapshot() -> tuple[list[str], bytes, str]:
        objects = sorted(str(p.relative_to(root)) for p in (root / ".git/objects").rglob("*")
                         if p.is_file())
        return objects, (root / ".git/index").read_bytes(), git(root, "rev-parse", "HEAD")

    before = snapshot()
    Repo(root).warm_up()
    assert snapshot() == before
    assert git(root, "status", "--porcelain").strip() == "M docs/a.txt"
