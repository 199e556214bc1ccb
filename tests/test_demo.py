"""The demo sandbox: what a newcomer finds before the daemon starts."""

from __future__ import annotations

import json
from pathlib import Path

from gitsync.config import Paths
from gitsync.demo import build_demo
from tests.helpers import fsck_clean, git


def test_demo_starts_with_one_text_and_one_word_conflict_on_both_devices(tmp_path: Path
                                                                          ) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "data", tmp_path / "state")
    _home, hub, laptop, desktop = build_demo(paths)
    for device in (laptop, desktop):
        fsck_clean(device)
        assert git(device, "status", "--porcelain") == ""
        records = [json.loads(git(device, "show", f"HEAD:{p}"))
                   for p in git(device, "ls-files", ".gitsync/conflicts").split()]
        by_path = {r["path"]: r for r in records}
        assert set(by_path) == {"notes.md", "report.docx"}
        assert by_path["report.docx"]["in_document"] is True
        assert by_path["notes.md"]["copy_path"] is not None
        assert (device / by_path["notes.md"]["copy_path"]).is_file()
        # the two versions of the plumber line are both on disk, neither lost
        both = (device / "notes.md").read_text() + (
            device / by_path["notes.md"]["copy_path"]).read_text()
        assert "Tuesday at 9" in both and "Wednesday" in both
    assert git(laptop, "rev-parse", "HEAD") == git(desktop, "rev-parse", "HEAD")
    assert git(hub, "rev-parse", "main") == git(laptop, "rev-parse", "HEAD")
