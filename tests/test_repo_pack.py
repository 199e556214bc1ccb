"""Bulk staging writes one pack, and every index gitsync writes keeps git's cached trees.

Checked with the git CLI (count-objects, fsck, ls-files --debug, write-tree) and by reading
.git/index itself: the TREE extension after the entries, whose root must cover every file.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

from gitsync.messages import batch_message
from gitsync.repo import BULK_THRESHOLD, Repo
from tests.helpers import fsck_clean, git, init_folder, run_cli, two_devices


def cached_trees(repo: Path) -> dict[str, tuple[int, str]]:
    """The index's TREE extension: folder path -> (entry count, tree id); -1 is invalid."""
    data = (repo / ".git" / "index").read_bytes()
    sig, version, count = struct.unpack(">4sII", data[:12])
    assert sig == b"DIRC" and version in (2, 3)
    pos = 12
    for _ in range(count):
        flags = struct.unpack(">H", data[pos + 60:pos + 62])[0]
        start = pos + 62 + (2 if version >= 3 and flags & 0x4000 else 0)
        end = data.index(b"\0", start)
        pos += (end - pos + 8) // 8 * 8
    while pos + 8 <= len(data) - 20:
        ext, size = struct.unpack(">4sI", data[pos:pos + 8])
        if ext == b"TREE":
            return _parse_tree_ext(data[pos + 8:pos + 8 + size])
        pos += 8 + size
    return {}


def _parse_tree_ext(body: bytes) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    pos = 0

    def node(prefix: str) -> None:
        nonlocal pos
        nul = body.index(b"\0", pos)
        name = body[pos:nul].decode()
        nl = body.index(b"\n", nul)
        entries, subtrees = (int(x) for x in body[nul + 1:nl].split(b" "))
        pos = nl + 1
        oid = ""
        if entries >= 0:
            oid, pos = body[pos:pos + 20].hex(), pos + 20
        path = f"{prefix}{name}"
        out[path] = (entries, oid)
        for _ in range(subtrees):
            node(f"{path}/" if path else "")

    node("")
    return out


def assert_cached_trees_valid(folder: Path) -> None:
    trees = cached_trees(folder)
    files = len(git(folder, "ls-files", "-z").split("\0")) - 1
    assert trees, "the index has no cached-tree extension"
    assert trees[""] == (files, git(folder, "rev-parse", "HEAD^{tree}").strip())
    assert all(count >= 0 for count, _ in trees.values()), trees
    # every folder of HEAD is cached, with HEAD's id for it
    dirs = git(folder, "ls-tree", "-r", "-d", "-z", "HEAD").split("\0")
    for line in filter(None, dirs):
        meta, path = line.split("\t", 1)
        assert trees[path][1] == meta.split()[2], path


def init_folder_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)
    code, _, err = run_cli("init", str(folder))
    assert code == 0, err


def loose_objects(folder: Path) -> int:
    out = git(folder, "count-objects", "-v")
    return int(next(line for line in out.splitlines() if line.startswith("count:")).split()[1])


def test_first_snapshot_is_one_pack_with_a_valid_index(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    files = {f"f{i}.txt": f"file {i}\n" * 30 for i in range(BULK_THRESHOLD)}
    files.update({f"d{i % 6}/e{i}.txt": f"in a folder {i}\n" for i in range(60)})
    folder.mkdir()
    for i in range(6):
        (folder / f"d{i}").mkdir()
    init_folder_files(folder, files)
    counts = dict(line.split(": ") for line in git(folder, "count-objects", "-v").splitlines())
    assert int(counts["count"]) <= 1  # the commit itself; blobs and trees are packed
    assert int(counts["in-pack"]) >= len(files) + 1 and counts["packs"] == "1"
    assert git(folder, "status", "--porcelain") == ""
    fsck_clean(folder)
    assert_cached_trees_valid(folder)
    assert "bigfilethreshold" not in git(folder, "config", "--list").lower()
    assert git(folder, "for-each-ref", "refs/gitsync") == ""  # no scratch ref left


def test_index_entries_carry_the_stat_data_of_the_read(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    init_folder(folder, {f"f{i}.txt": f"{i}\n" for i in range(BULK_THRESHOLD)})
    debug = git(folder, "ls-files", "--debug", "f7.txt")
    st = (folder / "f7.txt").stat()
    assert f"mtime: {int(st.st_mtime)}:" in debug
    assert f"size: {st.st_size}\t" in debug and f"ino: {st.st_ino}\n" in debug


def test_bulk_staging_on_a_history_matches_git_add(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    odd = ['quote".txt', "back\\slash.txt", "new\nline.txt", "tab\tname.txt", "ünï.txt"]
    files = {f"d{i % 5}/f{i}.txt": f"v1 {i}\n" for i in range(2 * BULK_THRESHOLD + 20)}
    files.update({"swap": "a file, then a folder\n", "was/x.txt": "x", "was/y.txt": "y"})
    folder.mkdir()
    for d in ("d0", "d1", "d2", "d3", "d4", "was"):
        (folder / d).mkdir()
    init_folder_files(folder, files)
    repo = Repo(folder)
    (folder / "swap").unlink()
    (folder / "swap").mkdir()
    (folder / "swap" / "inner.txt").write_text("inside\n")
    shutil.rmtree(folder / "was")
    (folder / "was").write_text("a folder, then a file\n")
    for i in range(0, 2 * BULK_THRESHOLD + 20, 2):
        (folder / f"d{i % 5}/f{i}.txt").write_text(f"v2 {i}\n")
    for i in range(1, 40, 2):
        (folder / f"d{i % 5}/f{i}.txt").unlink()
    for name in odd:
        (folder / "odd").mkdir(exist_ok=True)
        (folder / "odd" / name).write_text(name)
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    os.symlink("d0/f0.txt", folder / "link")
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, symlinks=True)
    loose_before = loose_objects(folder)

    changed = repo.changed_paths()
    assert len(changed) >= BULK_THRESHOLD
    out = repo.commit_paths(changed, device="laptop", size_limit=10**9,
                            message_for=lambda ch: batch_message("laptop", ch))
    assert out.commit is not None and out.held_back == ()
    git(copy, "add", "-A")
    assert git(folder, "rev-parse", "HEAD^{tree}") == git(copy, "write-tree")
    assert loose_objects(folder) == loose_before + 1  # only the commit is loose
    assert git(folder, "status", "--porcelain") == ""
    assert_cached_trees_valid(folder)
    fsck_clean(folder)


def test_attributes_send_bulk_staging_through_git_add(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    files = {f"f{i}.txt": f"line {i}\r\nnext\r\n" for i in range(BULK_THRESHOLD)}
    files[".gitattributes"] = "*.txt text eol=crlf\n"
    folder.mkdir()
    init_folder_files(folder, files)
    # git normalised the line endings in the repository, as `git add` does
    assert git(folder, "cat-file", "blob", "HEAD:f3.txt") == "line 3\nnext\n"
    assert git(folder, "status", "--porcelain") == ""
    assert_cached_trees_valid(folder)


def test_cached_trees_survive_a_single_file_commit(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    init_folder(folder, {f"f{i}.txt": f"{i}\n" for i in range(BULK_THRESHOLD)})
    (folder / "sub").mkdir()
    (folder / "sub" / "new.txt").write_text("new\n")
    repo = Repo(folder)
    out = repo.commit_paths(["sub/new.txt"], device="laptop", size_limit=10**9,
                            message_for=lambda ch: batch_message("laptop", ch),
                            defer_index=True)
    assert out.commit is not None
    repo.flush_index()
    assert_cached_trees_valid(folder)
    (folder / "f1.txt").write_text("edited\n")
    assert repo.commit_paths(["f1.txt"], device="laptop", size_limit=10**9,
                             message_for=lambda ch: batch_message("laptop", ch)).commit
    assert_cached_trees_valid(folder)
    assert git(folder, "status", "--porcelain") == ""


def test_cached_trees_survive_a_sync_update(tmp_path: Path) -> None:
    a, b, _hub, home_b = two_devices(tmp_path, {"a.txt": "1\n", "b.txt": "2\n"})
    assert_cached_trees_valid(b)
    (a / "dir").mkdir()
    (a / "dir" / "c.txt").write_text("3\n")
    (a / "a.txt").write_text("1 changed\n")
    assert run_cli("sync", str(a))[0] == 0
    code, _, err = run_cli("sync", str(b), home=home_b)
    assert code == 0, err
    assert (b / "dir" / "c.txt").read_text() == "3\n"
    assert_cached_trees_valid(b)
    assert git(b, "status", "--porcelain") == ""


def test_git_takes_a_stream_of_chunks_as_its_input(tmp_path: Path) -> None:
    from gitsync.gitproc import run_git

    drawn: list[int] = []

    def chunks():  # type: ignore[no-untyped-def]
        for n in range(300):
            drawn.append(n)
            yield b"x" * 1000
    out = run_git(["hash-object", "--stdin"], cwd=tmp_path, input=chunks(), check=True)
    expected = run_git(["hash-object", "--stdin"], cwd=tmp_path, input=b"x" * 300_000)
    assert out.stdout == expected.stdout and len(drawn) == 300
