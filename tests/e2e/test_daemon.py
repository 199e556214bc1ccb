"""`gitsync run` as a real process on real folders with real filesystem events."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import (
    DaemonProc,
    commit_count,
    daemon,
    fsck_clean,
    git,
    init_folder,
    run_cli,
    run_proc,
    wait_for,
    write_in_chunks,
)


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "Docs"
    return d, init_folder(d, {"notes.txt": "v1\n"})


def hub_has(hub: Path, path: str, content: str) -> bool:
    r = subprocess.run(["git", "--git-dir", str(hub), "show", f"main:{path}"],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout == content


def subjects(folder: Path) -> list[str]:
    return git(folder, "log", "--format=%s").splitlines()


def test_save_is_committed_and_pushed(synced: tuple[Path, Path], tmp_path: Path) -> None:
    folder, hub = synced
    with daemon(log=tmp_path / "d.log"):
        assert wait_for(lambda: hub_has(hub, "notes.txt", "v1\n"), 15)  # start-up push
        (folder / "notes.txt").write_text("v2\n")
        (folder / "new.md").write_text("hello\n")
        (folder / "~$notes.docx").write_text("owner file")
        assert wait_for(lambda: hub_has(hub, "new.md", "hello\n"), 15)
        assert hub_has(hub, "notes.txt", "v2\n")
        assert subjects(folder)[0] == "laptop: added new.md, edited notes.txt"
    assert "~$notes.docx" not in git(folder, "ls-files")
    fsck_clean(folder)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(hub), str(clone))
    assert (clone / "new.md").read_text() == "hello\n"


def test_file_written_in_chunks_is_one_commit_of_the_final_content(
        synced: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _hub = synced
    with daemon(log=tmp_path / "d.log"):
        wait_for(lambda: False, 1.0)
        before = commit_count(folder)
        chunks = [f"part {i}\n".encode() * 1000 for i in range(6)]
        write_in_chunks(folder / "big.txt", chunks, pause=0.4)
        assert wait_for(lambda: commit_count(folder) > before, 15)
        time.sleep(2.0)  # nothing more may follow
        assert commit_count(folder) == before + 1
    assert git(folder, "show", "HEAD:big.txt").encode() == b"".join(chunks)


def test_office_saves_are_one_edit_not_delete_and_add(synced: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    folder, _hub = synced
    doc = folder / "report.docx"
    doc.write_bytes(b"version 1")
    with daemon(log=tmp_path / "d.log"):
        assert wait_for(lambda: "report.docx" in git(folder, "ls-tree", "--name-only", "HEAD"),
                        15)
        n = commit_count(folder)
        # Word: write a temp, rename the original away, rename the temp into place.
        (folder / "~WRD0001.tmp").write_bytes(b"version 2")
        doc.rename(folder / "~WRL0003.tmp")
        time.sleep(0.3)
        (folder / "~WRD0001.tmp").rename(doc)
        (folder / "~WRL0003.tmp").unlink()
        assert wait_for(lambda: commit_count(folder) == n + 1, 15)
        # Excel: delete the original first; the new file arrives after the debounce time.
        doc.unlink()
        time.sleep(1.4)
        (folder / "tmp123.tmp.part").write_bytes(b"version 3")
        (folder / "tmp123.tmp.part").rename(doc)
        assert wait_for(lambda: commit_count(folder) == n + 2, 15)
        time.sleep(1.5)
    assert subjects(folder)[:2] == ["laptop: edited report.docx"] * 2
    assert git(folder, "show", "HEAD:report.docx") == "version 3"


def test_changes_made_while_stopped_are_committed_at_start(synced: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    folder, _hub = synced
    (folder / "notes.txt").write_text("edited offline\n")
    (folder / "added.txt").write_text("new\n")
    with daemon(log=tmp_path / "d.log"):
        assert wait_for(lambda: "added.txt" in git(folder, "ls-files"), 15)
    assert git(folder, "show", "HEAD:notes.txt") == "edited offline\n"
    assert git(folder, "status", "--porcelain") == ""


def test_one_daemon_per_home_and_sigterm_commits_pending(synced: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    folder, _hub = synced
    d = DaemonProc("--debounce", "30", log=tmp_path / "d.log")
    try:
        d.wait_ready()
        second = run_proc("run", "--no-web", timeout=30)
        assert second.returncode == 0
        assert f"already running for this home (pid {d.proc.pid})" in second.stdout
        status = json.loads(run_proc("status", "--json").stdout)["folders"][0]
        assert status["daemon_running"] is True
        (folder / "last-words.txt").write_text("saved just before shutdown\n")
        time.sleep(0.5)  # the watcher has seen it; the 30 s debounce has not passed
        assert d.terminate() == 0
    finally:
        if d.proc.poll() is None:
            d.kill9()
    assert git(folder, "show", "HEAD:last-words.txt") == "saved just before shutdown\n"
    # a dead daemon's lock never blocks a new one
    with daemon(log=tmp_path / "d2.log"):
        pass


def test_kill_9_mid_commit_then_restart_loses_nothing(synced: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    folder, _hub = synced
    rng = random.Random(7)
    written: dict[str, str] = {}
    for round_ in range(3):
        d = DaemonProc("--debounce", "0.2", log=tmp_path / f"d{round_}.log")
        d.wait_ready()
        batch = folder / f"batch{round_}"
        batch.mkdir()
        for i in range(1500):
            name = f"batch{round_}/f{i:04d}.txt"
            (folder / name).write_text(f"{round_}-{i}\n")
            written[name] = f"{round_}-{i}\n"
        # kill while the daemon is staging or committing the batch
        lock = folder / ".git" / "index.lock"
        wait_for(lock.exists, 10, interval=0.001)
        time.sleep(rng.uniform(0, 0.05))
        d.kill9()
    with daemon(log=tmp_path / "final.log"):
        assert wait_for(lambda: git(folder, "status", "--porcelain") == "", 60)
    tracked = set(git(folder, "ls-files").split())
    assert set(written) <= tracked
    for name in rng.sample(sorted(written), 50):
        assert git(folder, "show", f"HEAD:{name}") == written[name]
    assert not list((folder / ".git").glob("**/*.lock"))
    fsck_clean(folder)


def test_folder_pauses_while_the_user_merges(synced: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _hub = synced
    with daemon(log=tmp_path / "d.log"):
        wait_for(lambda: False, 0.5)
        n = commit_count(folder)
        (folder / ".git" / "MERGE_HEAD").write_text(git(folder, "rev-parse", "HEAD"))
        assert wait_for(lambda: json.loads(run_proc("status", "--json").stdout)
                        ["folders"][0]["state"] == "paused", 15)
        (folder / "notes.txt").write_text("during the merge\n")
        time.sleep(2.5)
        assert commit_count(folder) == n  # hands off while git is mid-merge
        os.unlink(folder / ".git" / "MERGE_HEAD")
        assert wait_for(lambda: commit_count(folder) == n + 1, 15)
    assert git(folder, "show", "HEAD:notes.txt") == "during the merge\n"


def test_new_folder_registered_while_running_is_picked_up(tmp_path: Path) -> None:
    with daemon(log=tmp_path / "d.log"):
        d = tmp_path / "Later"
        d.mkdir()
        assert run_cli("init", str(d))[0] == 0
        time.sleep(3)  # the daemon re-reads the config every 2 s
        (d / "x.txt").write_text("x")
        assert wait_for(lambda: "x.txt" in git(d, "ls-files"), 15)


# Root reads every file; dropping the capabilities that let it bypass permissions makes a
# chmod 000 file as unreadable to the daemon as it would be to a normal user.
NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop DAC capabilities")
def test_unreadable_file_is_skipped_reported_and_retried(synced: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    folder, _hub = synced
    secret = folder / "locked.txt"
    secret.write_text("private\n")
    secret.chmod(0)
    (folder / "fine.txt").write_text("fine\n")
    d_log = tmp_path / "d.log"
    with daemon(log=d_log, prefix=NO_DAC):
        assert wait_for(lambda: "fine.txt" in git(folder, "ls-files"), 15)
        assert "locked.txt" not in git(folder, "ls-files")
        st = json.loads(run_proc("status", "--json").stdout)["folders"][0]
        assert st["state"] == "watching"
        assert any(s["path"] == "locked.txt" and "unreadable" in s["reason"]
                   for s in st["skipped"]), st
        (folder / "more.txt").write_text("the daemon keeps going\n")
        assert wait_for(lambda: "more.txt" in git(folder, "ls-files"), 15)
        secret.chmod(0o644)
        assert wait_for(lambda: "locked.txt" in git(folder, "ls-files"), 30)
    assert "locked.txt" in d_log.read_text() and "Traceback" not in d_log.read_text()


QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")


@pytest.mark.skipif(not os.access(QUEUE_LIMIT, os.W_OK),
                    reason="needs a writable /proc/sys/fs/inotify (root) to force an overflow")
def test_lost_events_trigger_a_rescan(synced: tuple[Path, Path], tmp_path: Path) -> None:
    """The kernel drops events when its queue overflows; the daemon must rescan, not miss."""
    folder, _hub = synced
    old = QUEUE_LIMIT.read_text()
    QUEUE_LIMIT.write_text("32\n")  # applies to inotify instances created from now on
    try:
        d = DaemonProc("--debounce", "0.5", log=tmp_path / "d.log")
        d.wait_ready()
    finally:
        QUEUE_LIMIT.write_text(old)
    try:
        names = [f"burst/f{i:04d}.txt" for i in range(600)]
        (folder / "burst").mkdir()
        (folder / names[0]).write_text(names[0])
        assert wait_for(lambda: names[0] in git(folder, "ls-files", "burst"), 30)  # watched
        # A stopped daemon reads nothing, so the burst's ~1,800 events overflow the queue of
        # 32 for certain; a running one may keep up with it on a quiet machine.
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            for n in names[1:]:
                (folder / n).write_text(n)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        assert wait_for(lambda: len(git(folder, "ls-files", "burst").split()) == len(names), 60)
        assert "overflow" in d.output().lower()
    finally:
        d.terminate()
