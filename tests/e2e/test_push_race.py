"""Two devices saving at the same moment: a lost push race is normal, not a fault.

Each device's daemon pushes to one hub; when both save within the same instant, one push
finds the hub moved. That round must fetch, merge and push again at once: the folder never
shows `offline`, and nothing is logged at WARNING.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.helpers import daemon, fsck_clean, git, two_devices, wait_for


@pytest.mark.slow
def test_saving_on_both_devices_at_once_never_goes_offline(tmp_path: Path) -> None:
    a, b, hub, home_b = two_devices(tmp_path, {"start.txt": "start\n"})
    rounds = 15
    with daemon("--debounce", "0.2", log=tmp_path / "a.log") as da, \
            daemon("--debounce", "0.2", log=tmp_path / "b.log", home=home_b) as db:
        for i in range(rounds):
            go = threading.Barrier(2)

            def save(folder: Path, name: str, barrier: threading.Barrier = go,
                     i: int = i) -> None:
                barrier.wait()
                (folder / f"{name}-{i}.txt").write_text(f"{name} {i}\n")

            ts = [threading.Thread(target=save, args=(a, "a")),
                  threading.Thread(target=save, args=(b, "b"))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            want = {f"a-{i}.txt", f"b-{i}.txt"}
            assert wait_for(lambda want=want: want <= {p.name for p in a.iterdir()}
                            and want <= {p.name for p in b.iterdir()}, 30), i
        assert wait_for(lambda: git(a, "rev-parse", "HEAD") == git(b, "rev-parse", "HEAD")
                        == git(hub, "rev-parse", "main"), 30)
        logs = da.output() + db.output()
    files = [Path(os.environ["GITSYNC_HOME"]) / "state" / "logs" / "gitsync.log",
             home_b / "state" / "logs" / "gitsync.log"]
    logs += "".join(f.read_text() for f in files)  # these carry the level of each line
    assert "merged" in logs
    for bad in ("offline", "sync failed", "refused the update", " WARNING ", " ERROR "):
        assert bad not in logs, f"{bad!r} in the daemons' logs:\n{logs}"
    for folder in (a, b):
        names = {p.name for p in folder.iterdir() if p.suffix == ".txt"}
        assert names == {"start.txt"} | {f"{x}-{i}.txt" for x in "ab" for i in range(rounds)}
        fsck_clean(folder)
