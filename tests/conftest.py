"""Test hygiene shared by the whole suite, and the fixtures several modules use.

Every test runs with a sealed git environment (its own HOME, no system or global git config
or ssh command leaking in, fixed author) and a private GITSYNC_HOME, so nothing a test does
touches the machine's real configuration, and nothing on the machine changes a test's
outcome. Real servers and programs a test needs (``sshd``, LibreOffice as ``lo``) are
defined here once, each started for the test that asks and stopped when it ends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported where used, so a bare `pytest` still loads this file
    from tests.libreoffice import LibreOffice
    from tests.sshd import SshServer

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "docx"


@pytest.fixture(autouse=True)
def sealed_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
               request: pytest.FixtureRequest) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_AUTHOR_DATE",
                "GIT_COMMITTER_DATE", "GIT_SSH_COMMAND", "GIT_SSH", "GIT_SSH_VARIANT",
                "DBUS_SESSION_BUS_ADDRESS"):  # no test pops up on the developer's desktop
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.invalid")
    gs_home = tmp_path_factory.mktemp("gitsync-home")
    monkeypatch.setenv("GITSYNC_HOME", str(gs_home))
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[safe]\n\tdirectory = *\n")
    _seal_libgit2(home, request)
    return gs_home


def _seal_libgit2(home: Path, request: pytest.FixtureRequest) -> None:
    """libgit2 fixed its config search path (the real HOME's ~/.gitconfig, /etc) when pygit2
    was imported, before HOME was changed: point it at the sealed home too, for this test."""
    import pygit2
    from pygit2.enums import ConfigLevel

    paths = pygit2.settings.search_path
    sealed = {ConfigLevel.GLOBAL: home, ConfigLevel.XDG: home / ".config",
              ConfigLevel.SYSTEM: home / "no-system-config"}
    old = {level: paths[level] for level in sealed}
    for level, where in sealed.items():
        paths[level] = str(where)

    def restore() -> None:
        for level, value in old.items():
            paths[level] = value

    request.addfinalizer(restore)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread running (a watcher or worker not stopped)."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.daemon
    ]
    for t in leaked:
        t.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked running threads: {still}"


@pytest.fixture
def corpus() -> Path:
    """The shared Word corpus; skips with a reason when run outside CI without ../shared."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"corpus missing at {CORPUS}: CI must have ../shared beside the clone")
        pytest.skip(f"Word corpus not found at {CORPUS} (it lives in ../shared, present in CI)")
    return CORPUS


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    """A real OpenSSH server on 127.0.0.1 for this test (see tests/sshd.py); it and every
    session it forked are gone when the test ends."""
    from tests.sshd import SshServer

    with SshServer(tmp_path / "sshd") as server:
        yield server
    assert not server.running


_BODY_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note whether the test body failed, for fixtures whose teardown would only add noise."""
    report = yield
    if report.when == "call":
        item.stash[_BODY_FAILED] = report.failed
    return report


@pytest.fixture
def lo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LibreOffice]:
    """This test's LibreOffice batch: what the test queues with ``lo.add`` and has not
    checked itself is converted when it ends, in one soffice call (skipped if the test
    already failed), so every test converts exactly what it produced."""
    from tests.libreoffice import LibreOffice

    batch = LibreOffice(tmp_path / "libreoffice")
    yield batch
    if batch.pending and not request.node.stash.get(_BODY_FAILED, False):
        batch.check()


@pytest.fixture
def outputs_open_in_libreoffice(lo: LibreOffice) -> Iterator[None]:
    """For modules whose merge helper appends to ``tests.libreoffice.MERGE_OUTPUTS``: this
    test's merge outputs are converted by LibreOffice when it ends."""
    from tests.libreoffice import MERGE_OUTPUTS

    MERGE_OUTPUTS.clear()
    yield
    for n, data in enumerate(MERGE_OUTPUTS):
        lo.add(f"output{n}", data)
    MERGE_OUTPUTS.clear()
