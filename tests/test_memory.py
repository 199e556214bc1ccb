"""The daemon's memory bounds: libgit2's pack windows and glibc's malloc arenas."""

from __future__ import annotations

import sys
from pathlib import Path

import pygit2
import pytest

from gitsync import memory
from gitsync.repo import MWINDOW_FILE_LIMIT, MWINDOW_MAPPED_LIMIT, MWINDOW_SIZE


def test_pack_windows_are_bounded_once_the_repo_layer_is_imported() -> None:
    assert pygit2.settings.mwindow_size == MWINDOW_SIZE
    assert pygit2.settings.mwindow_mapped_limit == MWINDOW_MAPPED_LIMIT
    assert pygit2.settings.mwindow_file_limit == MWINDOW_FILE_LIMIT
    # far below libgit2's own 64-bit defaults (1 GiB windows, 8 GiB mapped, no file limit)
    assert MWINDOW_MAPPED_LIMIT <= 256 * 1024 * 1024
    assert MWINDOW_FILE_LIMIT > 50  # git's gc.autoPackLimit: a folder's packs stay open


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", (param, value)))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", (pad,)))
        return 1


def test_arena_cap_and_trim_go_to_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: fake)
    assert memory.limit_arenas()
    assert memory.release_free_memory()
    assert fake.calls == [("mallopt", (-8, memory.ARENA_MAX)), ("malloc_trim", (0,))]


def test_without_glibc_both_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert not memory.limit_arenas()
    assert not memory.release_free_memory()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's calls")
def test_real_calls_are_harmless_here() -> None:
    # On glibc both succeed; on another C library both are no-ops. Neither raises.
    memory.limit_arenas()
    memory.release_free_memory()


def test_the_daemon_caps_arenas_before_it_starts(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    from gitsync import cli

    order: list[str] = []
    monkeypatch.setattr(memory, "limit_arenas", lambda n=memory.ARENA_MAX: order.append("cap"))

    class FakeDaemon:
        def __init__(self, *a: object, **k: object) -> None:
            order.append("daemon")

        def run(self, **k: object) -> None:
            order.append("run")

    import gitsync.daemon

    monkeypatch.setattr(gitsync.daemon, "Daemon", FakeDaemon)
    monkeypatch.setattr(cli, "_setup_daemon_logging", lambda *a: None)
    monkeypatch.setenv("GITSYNC_HOME", str(tmp_path / "home"))
    cli.cmd_run(cli.build_parser().parse_args(["run", "--no-web"]))
    assert order[:2] == ["cap", "daemon"]


def _heap_in_use() -> int:
    """Bytes the C heap has handed out (glibc's mallinfo2), after Python let go."""
    import ctypes
    import gc

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    gc.collect()
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


@pytest.mark.skipif(memory._glibc() is None, reason="reads glibc's heap figures (Linux only)")
def test_reading_history_does_not_grow_the_heap_once_the_object_cache_is_full(
        tmp_path: Path) -> None:
    """A daemon reads every commit it fetches or makes, for as long as it runs: past a few
    hundred, each commit read must not keep heap memory (libgit2's object cache is full)."""
    import subprocess

    from gitsync.repo import Repo
    from tests.helpers import git

    packed, loose = tmp_path / "packed", tmp_path / "loose"
    for repo in (packed, loose):
        git(tmp_path, "init", "-q", "-b", "main", str(repo))
    stream = []
    for i in range(3000):
        stream.append(f"commit refs/heads/main\nmark :{i + 1}\n"
                      f"committer t <t@example.invalid> {1_700_000_000 + i} +0000\n"
                      f"data 9\nsave {i % 1000:04d}\n" + (f"from :{i}\n" if i else "") +
                      f"M 100644 inline dir{i % 7}/file{i % 13}.txt\ndata {len(str(i)) + 1}\n"
                      f"{i}\n\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=packed, check=True,
                   input="".join(stream).encode(), capture_output=True)
    # as loose objects, as a daemon's own saves and small fetches are: no pack's delta cache
    pack = next((packed / ".git" / "objects" / "pack").glob("*.pack"))
    subprocess.run(["git", "unpack-objects", "-q"], cwd=loose, check=True,
                   stdin=pack.open("rb"))
    tip = git(packed, "rev-parse", "main").strip()
    git(loose, "update-ref", "refs/heads/main", tip)
    commits = git(loose, "rev-list", "main").split()
    assert len(commits) == 3000
    repo = Repo(loose)

    def read(ids: list[str]) -> None:
        for oid in ids:
            tree = repo._repo[oid].peel(pygit2.Commit).tree
            for entry in tree:
                repo._repo[entry.id]

    read(commits[:600])  # fills the cache
    before = _heap_in_use()
    read(commits[600:])
    grown = _heap_in_use() - before
    # 2,400 more commits and their trees; at the former 4 MiB bound this grew by MiBs
    assert grown < 512 * 1024, f"the heap grew by {grown / 1024:.0f} KiB"
