"""One rule for the paths users and other devices hand us: nothing outside the folder or
in .git, on paper and on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitsync.errors import PathError
from gitsync.safepath import check_user_path, unsafe_reason
from gitsync.worktree import UnsafePathError, check_path

HOSTILE = ["../x", "/etc/passwd", ".git/config", ".GIT/config", "a/../../x", "a/./b",
           "a//b", "sub/.git/hooks/pre-commit", ".git", ".git./config", ".git /x",
           "git~1/config", "a\\..\\x", "a\0b", "..", "."]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_refused_everywhere(tmp_path: Path, path: str) -> None:
    assert unsafe_reason(path) is not None
    with pytest.raises(PathError):
        check_user_path(tmp_path, path)
    with pytest.raises(UnsafePathError):  # incoming commits follow the very same rule
        check_path(path)


@pytest.mark.parametrize("path", ["a.txt", "notes/todo.txt", ".gitignore", ".github/x.yml",
                                  "a b/ü.txt", ".gitsync/conflicts/x.json", "git/x"])
def test_ordinary_paths_pass(tmp_path: Path, path: str) -> None:
    assert unsafe_reason(path) is None
    assert check_user_path(tmp_path, path) == path


def test_the_root_only_when_asked_and_a_trailing_slash_is_dropped(tmp_path: Path) -> None:
    assert check_user_path(tmp_path, "", allow_root=True) == ""
    assert check_user_path(tmp_path, "docs/") == "docs"
    with pytest.raises(PathError):
        check_user_path(tmp_path, "")


def test_a_symlink_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "f"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "a.txt").write_text("a")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_text("k")
    os.symlink(outside, root / "out")
    os.symlink(outside / "key", root / "key-link")
    os.symlink("inside", root / "in-link")
    os.symlink(".git", root / "gitdir")
    (root / ".git").mkdir()
    for bad in ("out/key", "key-link", "out", "gitdir/config"):
        with pytest.raises(PathError):
            check_user_path(root, bad)
    assert check_user_path(root, "in-link/a.txt") == "in-link/a.txt"


def test_a_name_longer_than_a_filesystem_allows_is_refused(tmp_path: Path) -> None:
    assert unsafe_reason("d/" + "n" * 255) is None
    assert unsafe_reason("d/" + "n" * 256) is not None
    assert unsafe_reason("ü" * 128) is not None  # 256 bytes in UTF-8
    with pytest.raises(UnsafePathError):
        check_path("n" * 300 + ".txt")
