"""Devices that were offline or stopped, and rounds that race with the user (a save during
the round, a writer saving all the time) or with another device's push; files a device
keeps to itself (over the size limit, ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import commit_count, git, run_cli
from tests.sync_helpers import (
    LINES,
    assert_same,
    head,
    make_net,
    parents,
    sync,
)


def test_offline_device_queues_commits_and_pushes_them_later(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    away = tmp_path / "hub-away"
    shutil.move(net.hub, away)
    n = commit_count(a)
    for i in range(3):
        (a / f"offline-{i}.txt").write_text(f"{i}\n")
        code, _, err = run_cli("sync", str(a))
        assert code == 3, err
        assert err.startswith("gitsync: ") and err.count("\n") == 1
    assert commit_count(a) == n + 3
    assert git(a, "status", "--porcelain") == ""
    shutil.move(away, net.hub)
    (b / "notes.txt").write_text(LINES + "from desktop meanwhile\n")
    sync(b)
    rep = sync(a)
    assert rep["action"] == "merged" and rep["pushed"] == head(a)
    assert (a / "notes.txt").read_text() == LINES + "from desktop meanwhile\n"
    sync(b)
    for i in range(3):
        assert (b / f"offline-{i}.txt").read_text() == f"{i}\n"
    assert_same(net)



def test_stopped_device_commits_its_users_edits_before_merging(tmp_path: Path) -> None:
    net = make_net(tmp_path, {"notes.txt": LINES, "todo.txt": "t\n"})
    a, b = net["A"], net["B"]
    old_head = head(b)
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "line one\n"))
    (a / "fromA.txt").write_text("a\n")
    sync(a)
    remote_tip = head(a)
    # B was not running meanwhile; its user edited two files.
    (b / "notes.txt").write_text(LINES.replace("line 10\n", "line ten\n"))
    (b / "todo.txt").write_text("t\nmore\n")
    rep = sync(b)
    assert rep["action"] == "merged"
    user = rep["committed"]
    assert user["parents"] == [old_head]
    assert sorted(c["path"] for c in user["changes"]) == ["notes.txt", "todo.txt"]
    merge = head(b)
    assert parents(b, merge) == [user["id"], remote_tip]
    assert git(b, "show", f"{user['id']}:notes.txt") == \
        LINES.replace("line 10\n", "line ten\n")
    assert (b / "notes.txt").read_text() == \
        LINES.replace("line 1\n", "line one\n").replace("line 10\n", "line ten\n")
    assert (b / "todo.txt").read_text() == "t\nmore\n"
    assert (b / "fromA.txt").read_text() == "a\n"
    sync(a)
    assert_same(net)



def test_a_save_during_the_round_is_committed_first_and_merged(tmp_path: Path) -> None:
    """The user saves just after the fetch (a reference-transaction hook does it, at a fixed
    point): the round must not overwrite the save; it commits it and merges again."""
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n"))
    sync(a)
    remote_tip = head(a)
    flag = tmp_path / "saved-once"
    saved = tmp_path / "saved.txt"
    saved.write_text(LINES.replace("line 10\n", "TEN\n"))
    hook = b / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\n"
                    '[ "$1" = committed ] || exit 0\n'
                    f"[ -e '{flag}' ] && exit 0\n"
                    f"touch '{flag}'\n"
                    f"cp '{saved}' '{b / 'notes.txt'}'\n")
    hook.chmod(0o755)
    old_head = head(b)
    rep = sync(b)
    assert flag.exists()
    assert rep["action"] == "merged"
    want = LINES.replace("line 1\n", "ONE\n").replace("line 10\n", "TEN\n")
    assert (b / "notes.txt").read_text() == want
    first_parent, second_parent = parents(b)
    assert second_parent == remote_tip
    assert parents(b, first_parent) == [old_head]
    assert git(b, "show", f"{first_parent}:notes.txt") == saved.read_text()
    hook.unlink()
    sync(a)
    assert_same(net)



def test_a_push_beaten_by_another_device_goes_round_again(tmp_path: Path) -> None:
    """Another device pushes between this round's fetch and its push (a hook does it at
    that point): the push is refused, the round fetches, merges again and pushes."""
    net = make_net(tmp_path, {"notes.txt": LINES})
    a, b = net["A"], net["B"]
    (a / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n"))
    sync(a)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(net.hub), str(other))
    (other / "notes.txt").write_text(LINES.replace("line 1\n", "ONE\n").replace(
        "line 5\n", "FIVE\n"))
    git(other, "commit", "-qam", "phone: edited notes.txt")
    flag = tmp_path / "pushed-once"
    hook = b / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\n"
                    '[ "$1" = committed ] || exit 0\n'
                    f"[ -e '{flag}' ] && exit 0\n"
                    f"touch '{flag}'\n"
                    "unset $(git rev-parse --local-env-vars)\n"
                    f"git -C '{other}' push -q origin main\n")
    hook.chmod(0o755)
    (b / "notes.txt").write_text(LINES.replace("line 10\n", "TEN\n"))
    rep = sync(b)
    assert flag.exists()
    phone = git(other, "rev-parse", "HEAD").strip()
    assert rep["action"] == "merged" and rep["pushed"] == head(b)
    assert subprocess.run(["git", "merge-base", "--is-ancestor", phone, "HEAD"], cwd=b
                          ).returncode == 0
    want = LINES.replace("line 1\n", "ONE\n").replace("line 5\n", "FIVE\n").replace(
        "line 10\n", "TEN\n")
    assert (b / "notes.txt").read_text() == want
    assert git(net.hub, "rev-parse", "main").strip() == head(b)
    hook.unlink()
    sync(a)
    assert (a / "notes.txt").read_text() == want
    assert_same(net)



@pytest.mark.slow
@pytest.mark.parametrize("save", ["in-place", "atomic"])
def test_a_writer_saving_all_the_time_is_never_overwritten(tmp_path: Path, save: str) -> None:
    """A program saves log.txt on A every 50 ms for 3 s (rewriting it in place, or through a
    temp file and a rename, as GNOME apps do) while A and B sync in a loop and B keeps
    editing another file, so A merges in most rounds."""
    net = make_net(tmp_path, {"log.txt": "v0\n", "other.txt": "o\n"})
    a, b = net["A"], net["B"]
    written: list[bytes] = [b"v0\n"]
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                i += 1
                data = b"".join(b"v%d line %d\n" % (i, k) for k in range(i))
                written.append(data)
                if save == "atomic":
                    tmp = a / f".goutputstream-{i}"
                    tmp.write_bytes(data)
                    os.replace(tmp, a / "log.txt")
                else:
                    with open(a / "log.txt", "wb") as fh:
                        fh.write(data)
                time.sleep(0.05)
        except BaseException as e:  # surfaced in the main thread
            failures.append(e)
        finally:
            stop.set()

    t = threading.Thread(target=writer, name="busy-writer")
    t.start()
    try:
        rounds = 0
        while not stop.is_set():
            (b / "other.txt").write_text(f"o{rounds}\n")
            for d in (a, b):
                code, _, err = run_cli("sync", str(d))
                assert code == 0, err
            rounds += 1
    finally:
        t.join()
    assert not failures, failures
    assert rounds >= 2
    assert int(git(a, "rev-list", "--merges", "--count", "HEAD")) >= 1
    sync(a)
    sync(b)
    last = written[-1]
    assert (a / "log.txt").read_bytes() == last
    assert (b / "log.txt").read_bytes() == last
    versions = set(written)
    if save == "in-place":
        # open("wb") empties the file before the write: for that instant the empty file is
        # what is on disk, and a sync that reads it then commits exactly that.
        versions.add(b"")
    revs = git(a, "rev-list", "HEAD", "--", "log.txt").split()
    assert len(revs) >= 3
    for rev in revs:
        blob = subprocess.run(["git", "show", f"{rev}:log.txt"], cwd=a,
                              capture_output=True, check=True).stdout
        assert blob in versions, f"{rev} holds a version nobody wrote: {blob[:60]!r}"
    assert_same(net)



def test_a_local_file_too_large_to_commit_does_not_stall_syncing(tmp_path: Path,
                                                                  sealed_env: Path) -> None:
    """B holds a file over the size limit (never committed) at a path the remote adds:
    B's file stays as it is, and everything else still syncs."""
    net = make_net(tmp_path, {"k.txt": "k\n"})
    a, b = net["A"], net["B"]
    cfg = sealed_env / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace("[settings]", "[settings]\nsize_limit = 1000"))
    (b / "big.bin").write_bytes(b"z" * 5000)
    (a / "big.bin").write_bytes(b"small")
    (a / "k.txt").write_text("k2\n")
    sync(a)
    laptop = head(a)
    code, _, err = run_cli("sync", str(b))
    assert (b / "big.bin").read_bytes() == b"z" * 5000
    assert code in (0, 1), err
    assert (b / "k.txt").read_text() == "k2\n"
    assert subprocess.run(["git", "merge-base", "--is-ancestor", laptop, "HEAD"], cwd=b
                          ).returncode == 0
    # B's file is never committed (it is over the limit), so the laptop keeps its own
    code, _, err = run_cli("sync", str(b))
    assert code in (0, 1), err
    assert (b / "big.bin").read_bytes() == b"z" * 5000
    assert git(b, "show", "HEAD:big.bin") == "small"
    assert git(net.hub, "show", "main:big.bin") == "small"
    sync(a)
    assert (a / "big.bin").read_bytes() == b"small"



def test_a_file_this_device_ignores_is_never_pushed(tmp_path: Path, sealed_env: Path
                                                    ) -> None:
    """B ignores *.env (a per-folder setting); the laptop adds secret.env, while B has its
    own secret.env: B's file stays on B only, however many rounds run."""
    net = make_net(tmp_path, {"k.txt": "k\n"})
    a, b = net["A"], net["B"]
    cfg = sealed_env / "config" / "config.toml"
    key = f'[folders."{b}"]'
    assert key in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(key, key + '\nignore = ["*.env"]'))
    (b / "secret.env").write_text("PASSWORD=hunter2\n")
    (a / "secret.env").write_text("PLACEHOLDER=1\n")
    sync(a)
    for _ in range(3):
        code, _, err = run_cli("sync", str(b))
        assert code in (0, 1), err
        assert (b / "secret.env").read_text() == "PASSWORD=hunter2\n"
    code, _, err = run_cli("sync", str(a))
    assert code in (0, 1), err
    leaked = git(net.hub, "log", "--all", "-p", "--format=%H")
    assert "hunter2" not in leaked
    assert (a / "secret.env").read_text() == "PLACEHOLDER=1\n"

