"""Browsing history: pages that follow renames, the folder as it was, deleted files.

Histories are made with the real git CLI and git is the judge of every answer.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from gitsync import history
from gitsync.errors import UserError
from gitsync.repo import Repo
from tests.helpers import git

T0 = 1_750_000_000


def commit(repo: Path, files: dict[str, str | None], msg: str, when: int,
           moves: dict[str, str] | None = None) -> str:
    for old, new in (moves or {}).items():
        (repo / new).parent.mkdir(parents=True, exist_ok=True)
        git(repo, "mv", old, new)
    for path, text in files.items():
        full = repo / path
        if text is None:
            git(repo, "rm", "-q", "-r", path)
        else:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(text)
            git(repo, "add", path)
    env = {**os.environ, "GIT_COMMITTER_DATE": f"@{when} +0000",
           "GIT_AUTHOR_DATE": f"@{when} +0000"}
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", msg], cwd=repo, env=env,
                   check=True)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "r"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    return r


def pages(r: Repo, path: str | None, limit: int) -> list[str]:
    ids: list[str] = []
    commits, cursor = history.history(r, path, limit)
    ids += [c.id for c in commits]
    while cursor is not None:
        assert len(commits) == limit
        commits, cursor = history.history(r, path, limit, cursor)
        ids += [c.id for c in commits]
    return ids


def test_pages_follow_a_file_back_through_its_renames(repo: Path) -> None:
    t = T0
    commit(repo, {"a.txt": "v1\n", "other.txt": "o\n"}, "add", t)
    for i in range(2, 6):
        commit(repo, {"a.txt": f"v{i}\n"}, f"edit {i}", t + i)
        commit(repo, {"other.txt": f"o{i}\n"}, f"other {i}", t + i)
    commit(repo, {}, "rename", t + 10, moves={"a.txt": "docs/b.txt"})
    for i in range(6, 9):
        commit(repo, {"docs/b.txt": f"v{i}\n"}, f"edit {i}", t + 10 + i)
    commit(repo, {}, "rename again", t + 30, moves={"docs/b.txt": "c.txt"})
    commit(repo, {"c.txt": "v9\n"}, "edit 9", t + 31)
    expected = git(repo, "log", "--first-parent", "--follow", "--format=%H", "--",
                   "c.txt").split()
    r = Repo(repo)
    for limit in (1, 2, 3, 50):
        assert pages(r, "c.txt", limit) == expected
    first, _ = history.history(r, "c.txt", 3)
    assert [c.summary for c in first] == ["edit 9", "rename again", "edit 8"]
    assert first[1].changes[0].old_path == "docs/b.txt"


def test_folder_and_directory_history_pages_match_git(repo: Path) -> None:
    rnd = random.Random(7)
    for i in range(40):
        d = rnd.choice(["x", "y", "x/deep"])
        commit(repo, {f"{d}/f{rnd.randrange(5)}.txt": f"{i}\n"}, f"c{i}", T0 + i)
    r = Repo(repo)
    assert pages(r, None, 7) == git(repo, "log", "--first-parent", "--format=%H").split()
    for d in ("x", "x/deep", "y"):
        assert pages(r, d, 4) == git(repo, "log", "--first-parent", "--format=%H", "--",
                                     d).split()


def test_a_forged_cursor_is_refused(repo: Path) -> None:
    commit(repo, {"a.txt": "1\n"}, "one", T0)
    r = Repo(repo)
    for bad in ("nonsense", history.encode_cursor("0" * 40, None),
                history.encode_cursor(git(repo, "rev-parse", "HEAD").strip(), "../etc"),
                "eyJjIjogMX0"):
        with pytest.raises(UserError):
            history.history(r, None, 10, bad)
    with pytest.raises(UserError):
        history.history(r, None, 0)


def test_the_folder_as_it_was_with_each_entry_s_last_change(repo: Path) -> None:
    rnd = random.Random(3)
    names = ["a.txt", "b.txt", "d/c.txt", "d/e/f.txt", "g/h.txt"]
    revs = []
    for i in range(60):
        path = rnd.choice(names)
        gone = (repo / path).exists() and rnd.random() < 0.2
        revs.append(commit(repo, {path: None if gone else f"{i}\n"}, f"c{i}", T0 + i))
    r = Repo(repo)
    for rev in [*revs[::5], revs[-1]]:
        for d in ("", "d", "d/e", "g"):
            if r.kind_at(rev, d) != "dir":
                continue
            entries = history.tree(r, rev, d)
            listed = git(repo, "ls-tree", "--format=%(objecttype) %(path)", rev,
                         f"{d}/" if d else ".").splitlines()
            want = sorted(((t == "tree"), p) for t, p in (x.split(" ", 1) for x in listed))
            assert sorted((e.type == "dir", e.path) for e in entries) == want
            types = [e.type for e in entries]
            assert types == sorted(types)  # directories first ("dir" < "file")
            for e in entries:
                last = git(repo, "log", "-1", "--first-parent", "--format=%H", rev, "--",
                           e.path).strip()
                assert e.last_commit is not None and e.last_commit.id == last, (rev, e.path)
                if e.type == "file":
                    assert e.size == len(git(repo, "show", f"{rev}:{e.path}").encode())


def test_a_deleted_file_shows_when_asking_an_earlier_time(repo: Path) -> None:
    before = commit(repo, {"keep.txt": "k\n", "old.txt": "o\n"}, "add", T0)
    commit(repo, {"old.txt": None}, "delete", T0 + 5)
    r = Repo(repo)
    assert [e.path for e in history.tree(r, before, "")] == ["keep.txt", "old.txt"]
    assert [e.path for e in history.tree(r, r.head_id() or "", "")] == ["keep.txt"]


def test_deleted_files_with_the_commit_that_deleted_them(repo: Path) -> None:
    commit(repo, {"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n", "d/e.txt": "e\n",
                  "m.txt": "m\n", "old.txt": "o\n"}, "add", T0)
    commit(repo, {"old.txt": None}, "delete old", T0 + 10)
    commit(repo, {"a.txt": None}, "delete a", T0 + 100)
    commit(repo, {"d/e.txt": None, "b.txt": None}, "delete two", T0 + 110)
    commit(repo, {"b.txt": "back\n"}, "b is back", T0 + 120)
    commit(repo, {}, "rename", T0 + 130, moves={"m.txt": "n.txt"})
    found = history.deleted(Repo(repo), T0 + 50)
    assert [d.path for d in found] == ["d/e.txt", "a.txt"]
    for d in found:
        deleting = git(repo, "log", "-1", "--format=%H", "--diff-filter=D", "--", d.path)
        assert d.commit.id == deleting.strip()
        assert d.last_rev == git(repo, "rev-parse", f"{d.commit.id}^").strip()
        git(repo, "cat-file", "-e", f"{d.last_rev}:{d.path}")  # it exists there
    assert [d.path for d in history.deleted(Repo(repo), T0)] == ["d/e.txt", "a.txt",
                                                                 "old.txt"]


def test_the_fast_tree_diff_agrees_with_libgit2(repo: Path) -> None:
    rnd = random.Random(11)
    files: dict[str, str] = {}
    for i in range(50):
        change: dict[str, str | None] = {}
        moves: dict[str, str] = {}
        for _ in range(rnd.randrange(1, 4)):
            p = rnd.choice(["a", "b", "c/d", "c/e", "f/g/h", "f/i"]) + f"{rnd.randrange(3)}.txt"
            if p in files and rnd.random() < 0.3:
                change[p] = None
            else:
                change[p] = f"{i} {rnd.random()}\n"
        if files and rnd.random() < 0.3:
            src = rnd.choice(sorted(set(files) - set(change)) or [""])
            if src:
                moves[src] = f"moved/{i}.txt"
        commit(repo, change, f"c{i}", T0 + i, moves=moves)
        for p, v in change.items():
            if v is None:
                files.pop(p, None)
            else:
                files[p] = v
        for s, d in moves.items():
            files[d] = files.pop(s)
    r = Repo(repo)
    for c in r.log():
        pygit_commit = r._repo[c.id]
        parent = pygit_commit.parents[0].tree if pygit_commit.parents else None
        assert set(r._changes(parent, pygit_commit.tree)) == \
            set(r._tree_changes(parent, pygit_commit.tree))


def test_a_listing_out_of_time_leaves_last_changes_unknown(repo: Path) -> None:
    commit(repo, {"a.txt": "1\n", "b.txt": "1\n"}, "add", T0)
    for i in range(5):
        commit(repo, {"a.txt": f"{i}\n"}, f"edit {i}", T0 + 1 + i)
    r = Repo(repo)
    head = r.head_id() or ""
    full = r.last_changes(head, "", ["a.txt", "b.txt"])
    assert full["a.txt"] == head and full["b.txt"] == git(repo, "rev-list", "--max-parents=0",
                                                          "HEAD").strip()
    partial = r.last_changes(head, "", ["a.txt", "b.txt"], budget_s=0)
    assert set(partial) <= {"a.txt"}  # nothing wrong, only less
    assert all(full[k] == v for k, v in partial.items())


def test_a_mode_change_alone_is_a_change(repo: Path) -> None:
    commit(repo, {"run.sh": "echo hi\n", "d/x.txt": "x\n"}, "add", T0)
    git(repo, "update-index", "--chmod=+x", "run.sh")
    commit(repo, {}, "make it executable", T0 + 1)
    r = Repo(repo)
    c = r._repo[r.head_id()]
    assert r._changes(c.parents[0].tree, c.tree) == r._tree_changes(c.parents[0].tree, c.tree)
    assert [ch.path for ch in r.commit_info(c.id).changes] == ["run.sh"]


def test_a_mode_change_beside_an_edit_in_the_same_directory_is_listed(repo: Path) -> None:
    commit(repo, {"run.sh": "echo hi\n", "notes.txt": "a\n"}, "add", T0)
    git(repo, "update-index", "--chmod=+x", "run.sh")
    commit(repo, {"notes.txt": "b\n"}, "edit and make executable", T0 + 1)
    r = Repo(repo)
    assert sorted(ch.path for ch in r.commit_info(r.head_id() or "").changes) == [
        "notes.txt", "run.sh"]
    assert sorted(git(repo, "diff-tree", "--name-only", "-r", "HEAD~1", "HEAD").split()) == [
        "notes.txt", "run.sh"]


def test_a_commit_summary_lists_at_most_the_changes_asked_for(repo: Path) -> None:
    commit(repo, {f"d{i % 7}/f{i}.txt": f"{i}\n" for i in range(40)}, "bulk", T0)
    r = Repo(repo)
    head = r.head_id() or ""
    full = r.commit_info(head)
    assert len(full.changes) == 40 and not full.changes_truncated
    assert len(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == 40
    short = r.commit_info(head, max_changes=5)
    assert len(short.changes) == 5 and short.changes_truncated
    assert {c.path for c in short.changes} <= {c.path for c in full.changes}
    assert short.to_json()["changes_truncated"] is True
    assert "changes_truncated" not in full.to_json()  # the CLI's JSON is unchanged
    exact = r.commit_info(head, max_changes=40)
    assert len(exact.changes) == 40 and not exact.changes_truncated


def test_a_page_of_the_folder_history_caps_the_changes_of_a_bulk_commit(repo: Path) -> None:
    commit(repo, {f"d{i % 9}/f{i}.txt": f"{i}\n" for i in range(60)}, "bulk", T0)
    commit(repo, {"d1/f1.txt": "edited\n"}, "one edit", T0 + 1)
    r = Repo(repo)
    commits, _ = history.history(r, None, 10, max_changes=25)
    small, bulk = commits
    assert [c.path for c in small.changes] == ["d1/f1.txt"] and not small.changes_truncated
    assert len(bulk.changes) == 25 and bulk.changes_truncated
    everything, _ = history.history(r, None, 10, max_changes=None)
    assert len(everything[1].changes) == 60 == len(
        git(repo, "show", "--name-only", "--format=", "HEAD~1").split())
