"""Repo.commit_updates: a commit of a tree with updates, object by object or in one pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitsync.model import Author
from gitsync.repo import Entry, Repo
from gitsync.repo.trees import MODE_BLOB, MODE_EXEC, MODE_LINK
from tests.helpers import fsck_clean, git

ODD = ['with "quotes".txt', "back\\slash.txt", "new\nline.txt", "tab\there.txt",
       "ünïcödé/日本.txt", " leading space.txt", '"starts-with-quote.txt']


def base_repo(root: Path) -> tuple[Repo, str]:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for rel, text in {"keep.txt": "keep\n", "gone/only.txt": "x\n", "dir/a.txt": "a\n",
                      "file-then-dir": "f\n", "deep/er/x.txt": "x\n",
                      "deep/er/y.txt": "y\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return Repo(root), git(root, "rev-parse", "HEAD").strip()


def updates_for(repo: Repo) -> tuple[dict[str, Entry | None], dict[str, bytes]]:
    """Updates of every kind, with new blobs kept back (not stored yet)."""
    blobs: dict[str, bytes] = {}

    def new(data: bytes) -> str:
        oid = repo.hash_blob(data)
        blobs[oid] = data
        return oid

    updates: dict[str, Entry | None] = {
        "gone/only.txt": None,  # its folder empties and disappears
        "dir/a.txt": Entry(new(b"a, changed\n"), MODE_EXEC),
        "file-then-dir": None,
        "file-then-dir/inside.txt": Entry(new(b"inside\n"), MODE_BLOB),
        "deep": None,  # a folder that becomes a file
        "deep/er/x.txt": None,
        "deep/er/y.txt": None,
        "link": Entry(new(b"keep.txt"), MODE_LINK),
        "same-as-keep.txt": Entry(repo.hash_blob(b"keep\n"), MODE_BLOB),  # stored already
    }
    updates["deep"] = Entry(new(b"now a file\n"), MODE_BLOB)
    for i, name in enumerate(ODD):
        updates[name] = Entry(new(f"odd {i}\n".encode()), MODE_BLOB)
    return updates, blobs


def listing(root: Path, commit: str) -> str:
    return git(root, "ls-tree", "-r", "-z", "--full-tree", commit)


@pytest.mark.parametrize("fast_import_min", [0, 10**9], ids=["fast-import", "libgit2"])
def test_commit_updates_writes_every_kind_of_change(tmp_path: Path, fast_import_min: int
                                                    ) -> None:
    repo, head = base_repo(tmp_path / "r")
    other = git(tmp_path / "r", "commit-tree", f"{head}^{{tree}}", "-p", head,
                "-m", "other side").strip()
    updates, blobs = updates_for(repo)
    for oid in blobs:  # kept back: nothing stored before the commit is written
        assert git(tmp_path / "r", "cat-file", "-e", oid, check=False) == ""
    commit = repo.commit_updates(head, updates, blobs, [head, other], "merge message\n",
                                 Author("Dev Ice", "dev@example.org"),
                                 fast_import_min=fast_import_min)
    root = tmp_path / "r"
    assert git(root, "rev-parse", f"{commit}^1", f"{commit}^2").split() == [head, other]
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", commit) == \
        "Dev Ice <dev@example.org>|Dev Ice <dev@example.org>|merge message\n\n"
    files = {}
    for rec in listing(root, commit).split("\0"):
        if rec:
            meta, path = rec.split("\t", 1)
            mode, _kind, oid = meta.split()
            files[path] = (mode, git(root, "cat-file", "blob", oid))
    expected = {"keep.txt": ("100644", "keep\n"), "dir/a.txt": ("100755", "a, changed\n"),
                "file-then-dir/inside.txt": ("100644", "inside\n"),
                "deep": ("100644", "now a file\n"), "link": ("120000", "keep.txt"),
                "same-as-keep.txt": ("100644", "keep\n")}
    expected.update({name: ("100644", f"odd {i}\n") for i, name in enumerate(ODD)})
    assert files == expected
    # no ref moved, none left behind
    assert git(root, "for-each-ref", "--format=%(refname) %(objectname)") == \
        f"refs/heads/main {head}\n"
    git(root, "update-ref", "refs/heads/main", commit)  # reachable, so fsck checks it all
    fsck_clean(root)


def test_both_ways_give_the_same_tree(tmp_path: Path) -> None:
    trees = []
    for name, fast_import_min in (("a", 0), ("b", 10**9)):
        repo, head = base_repo(tmp_path / name)
        updates, blobs = updates_for(repo)
        commit = repo.commit_updates(head, updates, blobs, [head], "m", Author("n", "e@x"),
                                     fast_import_min=fast_import_min)
        trees.append(git(tmp_path / name, "rev-parse", f"{commit}^{{tree}}").strip())
    assert trees[0] == trees[1]


def test_fast_import_leaves_one_pack_and_no_loose_objects(tmp_path: Path) -> None:
    repo, head = base_repo(tmp_path / "r")
    root = tmp_path / "r"
    git(root, "repack", "-adq")
    updates, blobs = updates_for(repo)
    repo.commit_updates(head, updates, blobs, [head], "m", Author("n", "e@x"),
                        fast_import_min=0)
    counts = dict(line.split(": ") for line in git(root, "count-objects", "-v").splitlines())
    assert counts["count"] == "0"
    assert counts["packs"] == "2"
