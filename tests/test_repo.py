"""The repository adapter against real repositories, checked with the git CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitsync.committer import Committer
from gitsync.errors import LockedError
from gitsync.ignore import IgnoreRules
from gitsync.messages import batch_message
from gitsync.repo import Repo
from tests.helpers import commit_count, fsck_clean, git


def make_repo(tmp_path: Path) -> Repo:
    d = tmp_path / "folder"
    d.mkdir()
    return Repo.init(d)


def commit(repo: Repo, *paths: str, limit: int = 10**9):
    return repo.commit_paths(list(paths), device="laptop", size_limit=limit,
                             message_for=lambda ch: batch_message("laptop", ch))


def test_commit_only_touches_given_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("a")
    (repo.workdir / "b.txt").write_text("b")
    out = commit(repo, "a.txt")
    assert out.commit is not None
    assert git(repo.workdir, "ls-files").split() == ["a.txt"]
    # b.txt was never looked at; git sees it as untracked, a.txt as clean
    assert git(repo.workdir, "status", "--porcelain").strip() == "?? b.txt"
    assert "Gitsync-Device: laptop" in git(repo.workdir, "log", "-1", "--format=%B")
    fsck_clean(repo.workdir)


def test_unchanged_path_makes_no_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("a")
    commit(repo, "a.txt")
    assert commit(repo, "a.txt").commit is None
    assert commit_count(repo.workdir) == 1


def test_delete_rename_and_message(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    for n in ("one.txt", "two.txt", "three.txt", "four.txt"):
        (repo.workdir / n).write_text(n * 20)
    commit(repo, "one.txt", "two.txt", "three.txt", "four.txt")
    (repo.workdir / "one.txt").rename(repo.workdir / "uno.txt")
    (repo.workdir / "two.txt").unlink()
    (repo.workdir / "three.txt").write_text("changed")
    (repo.workdir / "new.txt").write_text("new")
    out = commit(repo, "one.txt", "uno.txt", "two.txt", "three.txt", "new.txt")
    assert out.commit is not None
    assert out.commit.summary == "laptop: added new.txt, edited three.txt (+2 more)"
    kinds = {c.path: c.kind.value for c in out.commit.changes}
    assert kinds == {"new.txt": "added", "three.txt": "edited", "uno.txt": "renamed",
                     "two.txt": "deleted"}
    assert git(repo.workdir, "status", "--porcelain") == ""


def test_symlink_is_committed_as_a_link_not_followed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    secret = tmp_path / "outside.txt"
    secret.write_text("outside the folder")
    os.symlink(secret, repo.workdir / "link")
    commit(repo, "link")
    ls = git(repo.workdir, "ls-tree", "HEAD", "link").split()
    assert ls[0] == "120000"
    assert git(repo.workdir, "cat-file", "-p", ls[2]) == str(secret)


def test_executable_bit_is_recorded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    script = repo.workdir / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    commit(repo, "run.sh")
    assert git(repo.workdir, "ls-tree", "HEAD", "run.sh").startswith("100755")


def test_large_file_is_held_back_with_a_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "big.bin").write_bytes(b"x" * 5000)
    (repo.workdir / "small.txt").write_text("ok")
    out = commit(repo, "big.bin", "small.txt", limit=1000)
    assert [h.path for h in out.held_back] == ["big.bin"]
    assert out.held_back[0].status == "too-large"
    assert git(repo.workdir, "ls-files").split() == ["small.txt"]


def test_directory_events_are_expanded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    c = Committer(repo, "laptop", size_limit=10**9, ignore=IgnoreRules())
    sub = repo.workdir / "photos" / "2024"
    sub.mkdir(parents=True)
    (sub / "a.jpg").write_bytes(b"a")
    (sub / "b.jpg").write_bytes(b"b")
    (sub / "~$lock.docx").write_bytes(b"tmp")
    assert c.commit(["photos"]).commit is not None
    assert sorted(git(repo.workdir, "ls-files").split()) == ["photos/2024/a.jpg",
                                                            "photos/2024/b.jpg"]
    import shutil

    shutil.rmtree(repo.workdir / "photos")
    res = c.commit(["photos"])
    assert res.commit is not None and len(res.commit.changes) == 2
    assert git(repo.workdir, "ls-files") == ""


def test_gitignore_is_asked_of_libgit2(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / ".gitignore").write_text("*.log\nbuild/\n!keep.log\n")
    c = Committer(repo, "laptop", size_limit=10**9, ignore=IgnoreRules())
    assert not c.wanted("x.log")
    assert c.wanted("keep.log")
    assert not c.wanted("build/out.o")
    assert c.wanted("notes.txt")


def test_branch_moves_only_by_compare_and_swap(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("1")
    first = commit(repo, "a.txt").commit
    assert first is not None
    (repo.workdir / "a.txt").write_text("2")
    git(repo.workdir, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qam", "by user")
    user_tip = git(repo.workdir, "rev-parse", "HEAD").strip()
    from gitsync.errors import RepoError

    with pytest.raises(RepoError):
        repo.update_ref("refs/heads/main", first.id, expected_old=first.id)
    assert git(repo.workdir, "rev-parse", "HEAD").strip() == user_tip


def _spawn_lock_holder(lock: Path, keep_open: bool) -> subprocess.Popen[bytes]:
    code = (
        "import os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
        "os.write(fd, b'x')\n"
        + ("" if keep_open else "os.close(fd)\n")
        + "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().strip() == b"locked"
    return p


# libgit2 reports the index's lock as a GitError and a branch's as an OSError: both are met
@pytest.mark.parametrize("name", ["index.lock", "refs/heads/main.lock"])
def test_stale_lock_of_a_killed_process_is_recovered(tmp_path: Path, name: str) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("1")
    commit(repo, "a.txt")
    lock = repo.gitdir / name
    holder = _spawn_lock_holder(lock, keep_open=True)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.exists()
    (repo.workdir / "a.txt").write_text("2")
    out = commit(repo, "a.txt")  # meets the lock, finds it stale, removes it, goes on
    assert out.commit is not None
    assert not lock.exists()
    fsck_clean(repo.workdir)


# libgit2 reports the index's lock as a GitError and a branch's as an OSError: both are met
@pytest.mark.parametrize("name", ["index.lock", "refs/heads/main.lock"])
def test_live_lock_is_never_broken(tmp_path: Path, name: str) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("1")
    commit(repo, "a.txt")
    lock = repo.gitdir / name
    holder = _spawn_lock_holder(lock, keep_open=True)
    try:
        (repo.workdir / "a.txt").write_text("2")
        with pytest.raises(LockedError):
            commit(repo, "a.txt")
        assert lock.exists()
        assert repo.clear_stale_locks() == []
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_running_git_in_the_repo_is_kept(tmp_path: Path) -> None:
    # git may close a lock's descriptor while still owning it (e.g. during hooks): a git
    # process working in the repo keeps the lock alive even if nobody has it open.
    repo = make_repo(tmp_path)
    lock = repo.gitdir / "HEAD.lock"
    lock.write_text("x")
    fake_git = tmp_path / "git-hook-runner"
    fake_git.write_text("#!/bin/sh\nsleep 30\n")
    fake_git.chmod(0o755)
    p = subprocess.Popen([str(fake_git)], cwd=repo.workdir)
    try:
        time.sleep(0.2)
        assert repo.clear_stale_locks() == []
        assert lock.exists()
    finally:
        p.kill()
        p.wait()
    assert repo.clear_stale_locks() == [lock]


def test_pause_reasons(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("1")
    commit(repo, "a.txt")
    assert repo.pause_reason() is None
    git(repo.workdir, "checkout", "-q", "--detach")
    assert "detached" in (repo.pause_reason() or "")
    git(repo.workdir, "checkout", "-q", "main")
    (repo.gitdir / "MERGE_HEAD").write_text(repo.head_id() + "\n")
    assert "merge" in (repo.pause_reason() or "")


def test_half_written_file_is_held_back(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    path = repo.workdir / "growing.bin"
    path.write_bytes(b"x" * 1000)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import time\n"
        f"f = open({str(path)!r}, 'ab')\n"
        "end = time.time() + 2\n"
        "while time.time() < end:\n"
        "    f.write(b'y' * 20000); f.flush(); time.sleep(0.002)\n"
    )])
    try:
        time.sleep(0.2)
        statuses = set()
        for _ in range(20):
            out = commit(repo, "growing.bin")
            statuses |= {h.status for h in out.held_back}
            if out.commit:
                break
        assert "unstable" in statuses
    finally:
        writer.wait()
    out = commit(repo, "growing.bin")
    data = git(repo.workdir, "cat-file", "-s", "HEAD:growing.bin").strip()
    assert int(data) == path.stat().st_size


def test_bulk_staging_matches_path_by_path(tmp_path: Path) -> None:
    from gitsync.repo import BULK_THRESHOLD

    repo = make_repo(tmp_path)
    names = [f"d{i % 7}/file {i}*?.txt" for i in range(BULK_THRESHOLD + 50)]
    for n in names:
        (repo.workdir / n).parent.mkdir(exist_ok=True)
        (repo.workdir / n).write_text(n)
    (repo.workdir / "huge.bin").write_bytes(b"h" * 4000)
    os.symlink("d0", repo.workdir / "link-to-dir")
    seen: list[tuple[int, int]] = []
    out = repo.commit_paths([*names, "huge.bin", "link-to-dir", "gone.txt"], device="laptop",
                            size_limit=1000, message_for=lambda ch: batch_message("laptop", ch),
                            progress=lambda d, t: seen.append((d, t)))
    assert out.commit is not None
    assert [(h.path, h.status) for h in out.held_back] == [("huge.bin", "too-large")]
    tracked = set(git(repo.workdir, "ls-files", "-z").split("\0")) - {""}
    assert tracked == {*names, "link-to-dir"}
    assert seen[-1] == (len(names) + 3, len(names) + 3)
    assert git(repo.workdir, "ls-tree", "HEAD", "link-to-dir").startswith("120000")
    # and deletions in bulk
    for n in names:
        (repo.workdir / n).unlink()
    out = commit(repo, *names)
    assert out.commit is not None and len(out.commit.changes) == len(names)
    assert git(repo.workdir, "ls-files") == "link-to-dir\n"
    fsck_clean(repo.workdir)


def test_a_tracked_file_matching_gitignore_stays_tracked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "build.log").write_text("kept on purpose\n")
    commit(repo, "build.log")
    (repo.workdir / ".gitignore").write_text("*.log\n")
    c = Committer(repo, "laptop", size_limit=10**9, ignore=IgnoreRules())
    assert c.wanted("build.log")  # committed before the rule: git still tracks it
    assert not c.wanted("other.log")
    (repo.workdir / "build.log").write_text("changed\n")
    assert c.commit(["build.log"]).commit is not None
    assert git(repo.workdir, "show", "HEAD:build.log") == "changed\n"


# -- nothing of pygit2 crosses the adapter -----------------------------------------------------


def test_author_is_plain_data_and_makes_the_commit(tmp_path: Path) -> None:
    from gitsync.model import Author

    repo = make_repo(tmp_path)
    git(repo.workdir, "config", "user.name", "Ada")
    git(repo.workdir, "config", "user.email", "ada@example.invalid")
    me = repo.author("laptop")
    assert type(me) is Author and me == Author("Ada", "ada@example.invalid")
    (repo.workdir / "a.txt").write_text("1")
    first = commit(repo, "a.txt").commit
    assert first is not None
    tree = repo.build_tree(first.id, {"b.txt": repo.entry_for_bytes(b"2", "b.txt")})
    oid = repo.create_commit(tree, [first.id], "by hand\n", me)
    shown = git(repo.workdir, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%P|%s", oid)
    ada = "Ada <ada@example.invalid>"
    assert shown.strip() == f"{ada}|{ada}|{first.id}|by hand"
    assert repo.head_id() == first.id  # no ref moved


def test_diff_trees_takes_ids(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo.workdir / "a.txt").write_text("alpha\n" * 20)
    (repo.workdir / "b.txt").write_text("beta")
    one = commit(repo, "a.txt", "b.txt").commit
    assert one is not None
    (repo.workdir / "a.txt").rename(repo.workdir / "moved.txt")
    (repo.workdir / "b.txt").write_text("beta 2")
    two = commit(repo, "a.txt", "moved.txt", "b.txt").commit
    assert two is not None
    tree_one = git(repo.workdir, "rev-parse", f"{one.id}^{{tree}}").strip()
    by_commit = repo.diff_trees(one.id, two.id)
    assert by_commit == repo.diff_trees(tree_one, two.id)  # a tree id or a commit id
    assert {(c.status, c.old_path, c.new_path) for c in by_commit} == {
        ("R", "a.txt", "moved.txt"), ("M", "b.txt", "b.txt")}
    assert {c.status for c in repo.diff_trees(one.id, two.id, renames=False)} == {"A", "D", "M"}
    added = repo.diff_trees(None, one.id)
    assert sorted((c.status, c.new_path) for c in added) == [("A", "a.txt"), ("A", "b.txt")]
    assert added[0].new is not None and added[0].new.oid == git(
        repo.workdir, "rev-parse", f"{one.id}:{added[0].new_path}").strip()
    assert repo.diff_trees(two.id, two.id) == []


def test_no_public_repo_method_mentions_pygit2() -> None:
    import inspect

    from gitsync.repo import Repo

    offenders = []
    for name, member in inspect.getmembers(Repo):
        if name.startswith("_"):
            continue
        target = member.fget if isinstance(member, property) else member
        annotations = getattr(target, "__annotations__", {})
        if any("pygit2" in str(a) or "Signature" in str(a) for a in annotations.values()):
            offenders.append(name)
    assert offenders == []


def test_first_page_of_the_log_reads_only_the_commits_it_shows(tmp_path: Path) -> None:
    # A time-sorted walk reads the whole history before its first commit (50,000 commits
    # in a big folder: most of `gitsync log -n 50`). With the oldest commits unreadable,
    # only a walk that stops at the page can answer.
    folder = tmp_path / "f"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    ids = []
    for i in range(6):
        (folder / "a.txt").write_text(f"{i}\n")
        git(folder, "add", "a.txt")
        git(folder, "commit", "-q", "-m", f"c{i}")
        ids.append(git(folder, "rev-parse", "HEAD").strip())
    for old in ids[:2]:
        (folder / ".git" / "objects" / old[:2] / old[2:]).unlink()
    repo = Repo(folder)
    assert [c.id for c in repo.log(None, 3)] == ids[:2:-1]
    made = int(git(folder, "log", "-1", "--format=%ct", ids[4]))
    assert repo.commit_before(made) in (ids[4], ids[5])


def test_libgit2s_object_cache_is_bounded_for_a_long_running_daemon() -> None:
    import pygit2

    from gitsync.repo import OBJECT_CACHE_BYTES

    assert pygit2.settings.cached_memory[1] == OBJECT_CACHE_BYTES <= 32 * 1024 * 1024


def test_a_scan_repairs_an_index_left_behind_by_a_crash(tmp_path: Path) -> None:
    """A round writes the disk, moves the branch, then writes the index. A kill between the
    last two leaves an index one commit behind: a path the round removed is still in it
    (``AD`` in git status), one it added is missing, one it changed is stale. The start-up
    scan must set all three right without a commit."""
    repo = make_repo(tmp_path)
    w = repo.workdir
    for name in ("gone.txt", "kept.txt", "changed.txt"):
        (w / name).write_text(name)
    commit(repo, "gone.txt", "kept.txt", "changed.txt")
    old_index = (w / ".git" / "index").read_bytes()
    git(w, "rm", "-q", "gone.txt")
    (w / "changed.txt").write_text("new words")
    (w / "added.txt").write_text("added")
    git(w, "add", "-A")
    git(w, "commit", "-q", "-m", "the round's commit")
    (w / ".git" / "index").write_bytes(old_index)  # the kill: the index was never written
    status = git(w, "status", "--porcelain", "--untracked-files=all")
    assert "AD gone.txt" in status and "?? added.txt" in status
    repo = Repo(w)  # the restarted daemon
    count = commit_count(w)
    out = repo.commit_paths(repo.changed_paths(), device="laptop", size_limit=10**9,
                            message_for=lambda ch: batch_message("laptop", ch),
                            whole_tree=True)
    assert out.commit is None and commit_count(w) == count
    assert git(w, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(w, "ls-files").split() == ["added.txt", "changed.txt", "kept.txt"]
    fsck_clean(w)
