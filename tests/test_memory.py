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
