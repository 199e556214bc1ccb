"""The folder worker driven by hand with a fake clock: no threads, no sleeping.

The worker is opened (owner lock, start-up scan) and then fed file events and calls;
``run_pending`` serves them and does what the fake clock says is due, so debounce, batch
delays and retry backoff are checked exactly, against a real repository and a real hub.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitsync.config import Paths, load_config
from gitsync.events import Event, EventBus
from gitsync.owner import FolderOwner
from gitsync.worker import FolderWorker
from tests.helpers import commit_count, git, init_folder, wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def hub_tip(hub: Path) -> str:
    return subprocess.run(["git", "--git-dir", str(hub), "rev-parse", "main"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "Docs"
    return d, init_folder(d, {"notes.txt": "v1\n"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def worker(folder: tuple[Path, Path], clock: FakeClock, events: list[Event]
           ) -> Iterator[FolderWorker]:
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(folder[0])]
    bus = EventBus()
    bus.subscribe(events.append)
    w = FolderWorker(fc, config.effective(fc), paths, bus, clock=clock, watch=False)
    assert w.open()
    yield w
    w.close()


def test_a_save_is_committed_once_quiet_for_the_debounce_then_pushed(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock,
        events: list[Event]) -> None:
    d, hub = folder
    worker.run_pending()  # start-up round: pushes the first snapshot
    assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()
    before = commit_count(d)
    (d / "notes.txt").write_text("v2\n")
    worker._on_fs_event("notes.txt", False)
    worker.run_pending()
    clock.advance(0.9)
    worker.run_pending()
    assert commit_count(d) == before  # not quiet for 1 s yet
    clock.advance(0.2)
    worker.run_pending()
    assert commit_count(d) == before + 1
    assert git(d, "show", "HEAD:notes.txt") == "v2\n"
    assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()
    kinds = [e.kind for e in events]
    assert kinds.index("committed") < len(kinds) - 1 - kinds[::-1].index("pushed")


def test_the_quiet_time_counts_from_the_event_not_from_a_busy_owner(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock) -> None:
    d, _hub = folder
    worker.run_pending()
    before = commit_count(d)
    (d / "notes.txt").write_text("saved while the worker was busy\n")
    worker._on_fs_event("notes.txt", False)
    clock.advance(1.1)  # the owner thread was pushing meanwhile; the save is settled
    worker.run_pending()
    assert commit_count(d) == before + 1
    assert git(d, "show", "HEAD:notes.txt") == "saved while the worker was busy\n"


def test_saves_that_queued_up_while_the_owner_was_busy_are_one_commit(
        folder: tuple[Path, Path], clock: FakeClock) -> None:
    import threading

    d, _hub = folder
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(d)]
    w = FolderWorker(fc, config.effective(fc), paths, EventBus(), clock=clock, watch=False)
    w.start()  # the real owner thread
    try:
        busy, release = threading.Event(), threading.Event()
        w.call(lambda parts: (busy.set(), release.wait(20)))
        assert busy.wait(20)
        before = commit_count(d)
        for i in range(20):  # a program saving while the owner runs a long call
            (d / f"file{i:02d}.txt").write_text(f"{i}\n")
            w._on_fs_event(f"file{i:02d}.txt", False)
        clock.advance(5)  # all of them long settled by the time the owner gets to them
        release.set()
        assert wait_for(lambda: commit_count(d) > before, 20)
        time.sleep(0.5)  # a second commit would come at once
        assert commit_count(d) == before + 1
        assert len(git(d, "show", "--name-only", "--format=", "HEAD").split()) == 20
    finally:
        w.stop()


def test_start_up_says_watching_once_the_scan_is_done(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "Docs"
    init_folder(d, {"notes.txt": "v1\n"})
    (d / "offline.txt").write_text("written while no daemon ran\n")
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(d)]
    w = FolderWorker(fc, config.effective(fc), paths, EventBus(), clock=FakeClock(),
                     watch=False)
    caplog.set_level("INFO", logger="gitsync")
    assert w.open()
    try:
        lines = [r.getMessage() for r in caplog.records]
        scanned = lines.index(f"{d}: 1 change(s) found by scan")
        assert lines.index(f"{d}: watching (scan done)") > scanned
        assert w.state.state == "watching"
        assert git(d, "show", "HEAD:offline.txt") == "written while no daemon ran\n"
    finally:
        w.close()


def test_continuous_writes_are_committed_every_max_batch_delay(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock) -> None:
    d, _hub = folder
    worker.run_pending()
    before = commit_count(d)
    for i in range(21):  # a save every 0.5 s for 10.5 s: never quiet for 1 s
        (d / "log.txt").write_text(f"line {i}\n")
        worker._on_fs_event("log.txt", False)
        worker.run_pending()
        clock.advance(0.5)
    assert commit_count(d) == before + 1  # max_batch_delay (10 s) forced one commit


def test_a_temp_file_renamed_over_a_document_does_not_hold_the_save_back(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock) -> None:
    """LibreOffice saves by writing lu<random>.tmp and renaming it over the document: the
    temp file's disappearance deletes nothing, so the save is committed after the debounce,
    not held back as a delete would be (which lost versions replaced within that time)."""
    d, _hub = folder
    worker.run_pending()
    before = commit_count(d)
    (d / "lu123.tmp").write_text("v2\n")
    worker._on_fs_event("lu123.tmp", False)
    (d / "lu123.tmp").rename(d / "notes.txt")
    worker._on_fs_event("lu123.tmp", True)
    worker._on_fs_event("notes.txt", False)
    worker.run_pending()
    clock.advance(1.1)
    worker.run_pending()
    assert commit_count(d) == before + 1
    assert git(d, "show", "HEAD:notes.txt") == "v2\n"
    assert "lu123.tmp" not in git(d, "ls-tree", "-r", "--name-only", "HEAD")
    # a tracked file's delete is still held back, so an office save reads as one edit
    (d / "notes.txt").unlink()
    worker._on_fs_event("notes.txt", True)
    worker.run_pending()
    clock.advance(1.1)
    worker.run_pending()
    assert commit_count(d) == before + 1
    (d / "notes.txt").write_text("v3\n")
    worker._on_fs_event("notes.txt", False)
    clock.advance(1.1)
    worker.run_pending()
    assert commit_count(d) == before + 2
    assert git(d, "show", "HEAD:notes.txt") == "v3\n"


def test_a_delete_soon_after_the_worker_deleted_the_same_file_is_the_users(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock) -> None:
    """The worker removes notes.txt for an incoming delete; the user saves it again, then
    deletes it, all within seconds: that last delete is the user's edit, not an echo of
    the worker's own write, and must be committed (it was once dropped, and the device
    never converged)."""
    d, _hub = folder
    worker.run_pending()
    (d / "notes.txt").unlink()
    worker._own_write("notes.txt", None)  # as the disk update of an incoming delete does
    worker._on_fs_event("notes.txt", True)
    worker.run_pending()
    assert worker.debouncer.paths == []  # the echo of the worker's own write
    before = commit_count(d)
    clock.advance(1.0)
    (d / "notes.txt").write_text("saved again\n")
    worker._on_fs_event("notes.txt", False)
    clock.advance(1.1)
    worker.run_pending()
    assert git(d, "show", "HEAD:notes.txt") == "saved again\n"
    (d / "notes.txt").unlink()
    worker._on_fs_event("notes.txt", True)
    worker.run_pending()
    clock.advance(3.5)
    worker.run_pending()
    assert commit_count(d) == before + 2
    assert "notes.txt" not in git(d, "ls-tree", "--name-only", "HEAD")


def test_a_call_runs_on_the_owner_after_pending_saves(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock) -> None:
    d, hub = folder
    worker.run_pending()
    (d / "notes.txt").write_text("saved a moment ago\n")
    worker._on_fs_event("notes.txt", False)  # not settled yet
    future = worker.call(lambda parts: parts.repo.head_commit())
    worker.run_pending()
    head = future.result(timeout=5)
    assert head is not None
    assert git(d, "show", f"{head.id}:notes.txt") == "saved a moment ago\n"  # flushed first
    assert hub_tip(hub) == head.id


def test_an_unreachable_remote_backs_off_doubling_and_recovers(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock,
        events: list[Event]) -> None:
    d, hub = folder
    worker.run_pending()
    moved = hub.with_name("away.git")
    hub.rename(moved)
    (d / "notes.txt").write_text("offline edit\n")
    worker._on_fs_event("notes.txt", False)
    worker.run_pending()
    clock.advance(1.1)
    worker.run_pending()  # commits, then the push fails
    assert worker.state.offline_since is not None
    tries = []
    for _ in range(4):
        due = worker._next_sync_try - clock()
        tries.append(round(due))
        clock.advance(due)
        worker.run_pending()
    assert tries == [1, 2, 4, 8]
    assert [e.kind for e in events].count("offline") == 1
    moved.rename(hub)
    clock.advance(worker._next_sync_try - clock())
    worker.run_pending()
    assert worker.state.offline_since is None
    assert "online" in [e.kind for e in events]
    assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()


def test_saves_while_offline_do_not_run_the_backoff_up(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock) -> None:
    """Each commit made offline used to try the remote at once, and each failure doubled
    the delay: a few seconds of saves offline and the folder waited a minute once back."""
    d, hub = folder
    worker.run_pending()
    moved = hub.with_name("away.git")
    hub.rename(moved)
    before = commit_count(d)
    for i in range(6):  # a save every 1.2 s, 7.2 s offline
        (d / "notes.txt").write_text(f"offline edit {i}\n")
        worker._on_fs_event("notes.txt", False)
        worker.run_pending()
        clock.advance(1.2)
        worker.run_pending()
    assert commit_count(d) == before + 6
    assert worker.state.offline_since is not None
    # tried after 1, 2 and 4 s: the next try is at most 8 s away, not 32 or the cap
    assert worker._next_sync_try - clock() <= 8
    moved.rename(hub)
    clock.advance(worker._next_sync_try - clock())
    worker.run_pending()
    assert worker.state.offline_since is None
    assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()


def test_saves_settled_during_a_round_that_lost_the_race_are_committed_before_it_tries_again(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A round whose push is refused fetches, merges and pushes again; with other devices
    pushing over a slow link that goes on for seconds. A version saved and replaced
    meanwhile was never committed: now the settled saves are committed between two tries."""
    from gitsync.transport import PushRejected

    d, _hub = folder
    worker.run_pending()
    transport = worker.syncer.transport
    real_push = transport.push
    seen: list[str] = []

    def push(remote: str, local: str, ref: str, *, expect: str | None) -> None:
        seen.append(git(d, "show", "HEAD:notes.txt"))
        if len(seen) == 1:  # another device won the race; the user saves meanwhile
            (d / "notes.txt").write_text("saved during the round\n")
            worker._on_fs_event("notes.txt", False)
            clock.advance(1.1)
            raise PushRejected("rejected", remote=remote, ref=ref, reason="fetch first",
                               expected=expect)
        real_push(remote, local, ref, expect=expect)

    monkeypatch.setattr(transport, "push", push)
    (d / "notes.txt").write_text("first\n")
    worker._on_fs_event("notes.txt", False)
    worker.run_pending()
    clock.advance(1.1)
    worker.run_pending()
    assert seen == ["first\n", "saved during the round\n"]
    (d / "notes.txt").write_text("replaced after the round\n")
    assert "saved during the round\n" in git(d, "log", "-p", "--", "notes.txt")


def test_the_owner_lock_is_held_while_open(folder: tuple[Path, Path],
                                           worker: FolderWorker) -> None:
    d, _hub = folder
    assert not FolderOwner(d / ".git").try_acquire()


def test_a_storm_of_rescan_requests_is_one_scan(folder: tuple[Path, Path],
                                                worker: FolderWorker,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    worker.run_pending()
    scans: list[int] = []
    real = worker.repo.changed_paths
    monkeypatch.setattr(worker.repo, "changed_paths", lambda: scans.append(1) or real())
    for _ in range(1000):  # what a burst of inotify overflow reports asks for
        worker.request_rescan()
    worker.run_pending()
    assert len(scans) == 1
    worker.request_rescan()  # a later overflow is scanned again
    worker.run_pending()
    assert len(scans) == 2


def test_a_paused_folder_records_saves_and_commits_them_on_resume(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock,
        events: list[Event]) -> None:
    from gitsync.operations import OPERATIONS

    d, hub = folder
    worker.run_pending()
    before = commit_count(d)
    tip = hub_tip(hub)
    worker.call(OPERATIONS["pause"].run)
    worker.run_pending()
    assert worker.state.state == "paused" and worker.state.reason == "paused by you"
    (d / "notes.txt").write_text("saved while paused\n")
    worker._on_fs_event("notes.txt", False)
    for _ in range(5):
        clock.advance(30)
        worker.run_pending()
    assert commit_count(d) == before and hub_tip(hub) == tip
    assert "notes.txt" in worker.debouncer.paths  # recorded, to be committed on resume
    assert any(e.kind == "paused" and not e.needs_user for e in events)
    worker.call(OPERATIONS["resume"].run)
    worker.run_pending()
    assert git(d, "show", "HEAD:notes.txt") == "saved while paused\n"
    assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()
    assert worker.state.state == "watching"


def test_a_pause_outlives_the_worker(folder: tuple[Path, Path], worker: FolderWorker,
                                     clock: FakeClock) -> None:
    from gitsync.operations import OPERATIONS

    d, _hub = folder
    worker.call(OPERATIONS["pause"].run)
    worker.run_pending()
    worker.close()
    (d / "notes.txt").write_text("saved while stopped and paused\n")
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(d)]
    again = FolderWorker(fc, config.effective(fc), paths, EventBus(), clock=clock, watch=False)
    before = commit_count(d)
    assert again.open()
    try:
        again.run_pending()
        assert again.state.state == "paused" and commit_count(d) == before
        again.call(OPERATIONS["resume"].run)
        again.run_pending()
        assert git(d, "show", "HEAD:notes.txt") == "saved while stopped and paused\n"
    finally:
        again.close()
    assert worker.owner.try_acquire()  # let the fixture's close() release cleanly


def test_a_folder_the_kernel_refuses_to_watch_is_scanned_on_a_timer(
        folder: tuple[Path, Path], clock: FakeClock, events: list[Event],
        caplog: pytest.LogCaptureFixture) -> None:
    """inotify's max_user_watches reached: the daemon says so once (with the sysctl to
    raise), status says it polls, and a save is still committed. The kernel's refusal is
    injected at the watcher adapter: lowering the real limit would need root-wide sysctl
    changes that would hit every other test on the machine."""
    import errno

    from gitsync.folderstate import read_state
    from gitsync.service import _live_reason

    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(folder[0])]
    bus = EventBus()
    bus.subscribe(events.append)
    w = FolderWorker(fc, config.effective(fc), paths, bus, clock=clock, watch=True)
    assert w._watcher is not None

    def refuse(*_args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    assert w._watcher._inotify is not None
    w._watcher._inotify._ino.add = refuse  # type: ignore[method-assign]
    w._start_watching()
    assert w._watcher is None
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "fs.inotify.max_user_watches" in errors[0].getMessage()
    assert [e.kind for e in events if e.needs_user] == ["error"]
    assert w.open()
    try:
        w.run_pending()
        d = folder[0]
        before = commit_count(d)
        (d / "notes.txt").write_text("saved while nobody watches\n")  # no event arrives
        clock.advance(11)
        w.run_pending()  # the timed scan finds it
        clock.advance(2)
        w.run_pending()  # and the debounce commits it
        assert commit_count(d) == before + 1
        assert git(d, "show", "HEAD:notes.txt") == "saved while nobody watches\n"
        saved = read_state(w.state_file)
        assert saved is not None and saved["polling_every"] == 10
        assert "polling every 10 s" in (_live_reason(saved) or "")  # what status shows
    finally:
        w.close()


def test_after_a_sleep_the_worker_syncs_at_once_instead_of_waiting_out_its_backoff(
        folder: tuple[Path, Path], clock: FakeClock, events: list[Event]) -> None:
    """Suspend: the monotonic clock stands still while the wall clock runs on. Both are
    fake here, so the sleep is an hour long and the test takes a second."""
    d, hub = folder
    wall = FakeClock()
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(d)]
    bus = EventBus()
    bus.subscribe(events.append)
    w = FolderWorker(fc, config.effective(fc), paths, bus, clock=clock, wall_clock=wall,
                     watch=False)
    assert w.open()
    try:
        w.run_pending()
        moved = hub.with_name("away.git")
        hub.rename(moved)
        (d / "notes.txt").write_text("saved before the lid closed\n")
        w._on_fs_event("notes.txt", False)
        for _ in range(6):  # offline: the backoff grows to 16 s and more
            clock.advance(max(1.1, w._next_sync_try - clock()))
            wall.advance(max(1.1, w._next_sync_try - clock()))
            w.run_pending()
        assert w.state.offline_since is not None
        moved.rename(hub)  # the network is back while the machine sleeps
        waiting = w._next_sync_try - clock()
        assert waiting > 5
        wall.advance(3600)  # the sleep
        clock.advance(0.5)
        w.run_pending()
        assert w.state.offline_since is None
        assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()
        assert git(d, "show", "HEAD:notes.txt") == "saved before the lid closed\n"
    finally:
        w.close()


def test_the_wake_detector() -> None:
    from gitsync.wakeup import WakeDetector

    w = WakeDetector(threshold=30)
    assert not w.woke(100, 5000)
    assert not w.woke(110, 5010)  # both moved alike
    assert not w.woke(120, 5045)  # 25 s apart: an NTP nudge, not a sleep
    assert w.woke(121, 9000)  # the wall clock ran on while the monotonic one stood
    assert not w.woke(131, 9010)


def test_when_the_network_changes_an_offline_folder_retries_at_once(
        folder: tuple[Path, Path], clock: FakeClock, events: list[Event]) -> None:
    """The network's fingerprint is injected (the real one reads /sys/class/net and the
    routing table, which a test cannot change without root-wide side effects)."""
    d, hub = folder
    net = ["wifi=down"]
    paths = Paths.discover()
    config = load_config(paths)
    fc = config.folders[str(d)]
    bus = EventBus()
    bus.subscribe(events.append)
    w = FolderWorker(fc, config.effective(fc), paths, bus, clock=clock,
                     network=lambda: net[0], watch=False)
    assert w.open()
    try:
        w.run_pending()
        moved = hub.with_name("away.git")
        hub.rename(moved)
        (d / "notes.txt").write_text("saved on the train\n")
        w._on_fs_event("notes.txt", False)
        for _ in range(6):
            clock.advance(max(1.1, w._next_sync_try - clock()))
            w.run_pending()
        assert w.state.offline_since is not None
        moved.rename(hub)
        assert w._next_sync_try - clock() > 5
        clock.advance(0.5)
        w.run_pending()
        assert w.state.offline_since is not None  # nothing changed: the backoff holds
        net[0] = "wifi=up"
        clock.advance(0.5)
        w.run_pending()
        assert w.state.offline_since is None
        assert hub_tip(hub) == git(d, "rev-parse", "HEAD").strip()
    finally:
        w.close()


def test_the_network_fingerprint_reads_interfaces_and_routes(tmp_path: Path) -> None:
    from gitsync.netwatch import network_fingerprint

    sys_net = tmp_path / "net"
    (sys_net / "eth0").mkdir(parents=True)
    (sys_net / "eth0" / "operstate").write_text("up\n")
    routes = tmp_path / "route"
    routes.write_text("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                      "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\n")
    first = network_fingerprint(sys_net, routes)
    routes.write_text(routes.read_text().replace("\t0\t0\t100", "\t0\t42\t100"))
    assert network_fingerprint(sys_net, routes) == first  # a use counter is no change
    (sys_net / "eth0" / "operstate").write_text("down\n")
    assert network_fingerprint(sys_net, routes) != first
    assert network_fingerprint(tmp_path / "absent", routes) is None


def test_a_round_that_merged_hands_freed_memory_back(
        folder: tuple[Path, Path], worker: FolderWorker, clock: FakeClock,
        events: list[Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gitsync.worker

    trims: list[str] = []
    monkeypatch.setattr(gitsync.worker, "release_free_memory", lambda: trims.append("trim"))
    d, hub = folder
    worker.run_pending()
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(hub), str(other))
    (other / "other.txt").write_text("from elsewhere\n")
    git(other, "add", "other.txt")
    git(other, "-c", "user.name=o", "-c", "user.email=o@x", "commit", "-qm", "other")
    git(other, "push", "-q", "origin", "HEAD:main")
    assert trims == []
    (d / "notes.txt").write_text("local edit\n")
    worker._on_fs_event("notes.txt", False)
    worker.run_pending()
    clock.advance(1.1)
    worker.run_pending()  # commits; the push is rejected; fetch, merge, push
    assert "merged" in [e.kind for e in events]
    assert trims == ["trim"]


def test_a_state_file_that_cannot_be_written_is_reported_once_until_it_can(
        worker: FolderWorker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # On a full disk every step of a round saves the state: one line says it, not dozens.
    caplog.set_level("INFO", logger="gitsync")
    good = worker.state_file
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    worker.state_file = blocker / "state.json"  # its parent is a file: every write fails
    for _ in range(3):
        worker._save_state()
    worker.state_file = good
    worker._save_state()
    worker.state_file = blocker / "state.json"
    worker._save_state()
    said = [r.getMessage() for r in caplog.records if "state file" in r.getMessage()]
    assert [m.split(" ")[0] for m in said] == ["could", "state", "could"], said
    assert "written again" in said[1]
