"""Two devices, each with its own gitsync home and its own `gitsync run`, over one hub."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import daemon, fsck_clean, git, run_proc, two_devices, wait_for


@pytest.fixture
def devices(tmp_path: Path, sealed_env: Path) -> Iterator[tuple[Path, Path, Path]]:
    """Device A (home = the test's), device B (a second home), and their daemons."""
    a, b, _hub, home_b = two_devices(tmp_path, {"notes.txt": "alpha\nbeta\ngamma\ndelta\n"})
    with daemon(log=tmp_path / "a.log"), daemon(log=tmp_path / "b.log", home=home_b):
        yield a, b, home_b


def test_saves_propagate_both_ways_within_seconds(devices: tuple[Path, Path, Path]) -> None:
    a, b, _ = devices
    (a / "from-a.txt").write_text("hello from the laptop\n")
    t0 = time.monotonic()
    assert wait_for(lambda: (b / "from-a.txt").exists(), 20)
    assert time.monotonic() - t0 < 10  # generous: the benchmark measures it properly
    assert (b / "from-a.txt").read_text() == "hello from the laptop\n"
    (b / "from-b.txt").write_text("and back\n")
    assert wait_for(lambda: (a / "from-b.txt").exists(), 20)
    (b / "from-a.txt").unlink()
    assert wait_for(lambda: not (a / "from-a.txt").exists(), 20)


def test_concurrent_edits_to_different_lines_converge(devices: tuple[Path, Path, Path]
                                                      ) -> None:
    a, b, _ = devices
    (a / "notes.txt").write_text("ALPHA\nbeta\ngamma\ndelta\n")
    (b / "notes.txt").write_text("alpha\nbeta\ngamma\nDELTA\n")
    want = "ALPHA\nbeta\ngamma\nDELTA\n"
    assert wait_for(lambda: (a / "notes.txt").read_text() == want
                    and (b / "notes.txt").read_text() == want, 30)
    assert wait_for(lambda: git(a, "rev-parse", "HEAD") == git(b, "rev-parse", "HEAD"), 20)
    assert git(a, "status", "--porcelain") == "" and git(b, "status", "--porcelain") == ""
    fsck_clean(a)
    fsck_clean(b)


def test_open_document_waits_for_its_editor(devices: tuple[Path, Path, Path]) -> None:
    a, b, home_b = devices
    (b / "report.txt").write_text("v1\n")
    assert wait_for(lambda: (a / "report.txt").exists(), 20)
    lock = b / ".~lock.report.txt#"
    lock.write_text("open in LibreOffice")
    (a / "report.txt").write_text("v2 from the laptop\n")
    status_b = None

    def b_waits() -> bool:
        nonlocal status_b
        r = run_proc("status", str(b), "--json", home=home_b)
        status_b = json.loads(r.stdout)["folders"][0] if r.returncode == 0 else None
        return bool(status_b and status_b.get("waiting"))

    # Generous: a loaded CI machine; the daemons' logs are printed if it fails.
    assert wait_for(b_waits, 45), json.dumps(status_b)
    assert (b / "report.txt").read_text() == "v1\n"  # not replaced under the editor
    time.sleep(1.5)
    assert (b / "report.txt").read_text() == "v1\n"
    lock.unlink()
    assert wait_for(lambda: (b / "report.txt").read_text() == "v2 from the laptop\n", 20)
    # the old content was never committed back as an edit
    assert wait_for(lambda: git(b, "status", "--porcelain") == "", 10)
    assert git(b, "show", "HEAD:report.txt") == "v2 from the laptop\n"
