"""One writer per folder: CLI commands that write go through the running daemon's worker.

A program saves into the folder every 50 ms while `gitsync sync`, `restore` and `resolve`
run in a loop as real processes against a real `gitsync run`. Every file the program wrote
must end up in history with the content it wrote, nothing on disk may be overwritten, and
git must find the repository sound.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import daemon, fsck_clean, git, run_cli, run_proc, wait_for


def _sh(folder: Path, rev: str, path: str) -> str:
    return git(folder, "show", f"{rev}:{path}")


def _conflicted_folder(tmp_path: Path, n: int) -> tuple[Path, Path, list[str]]:
    """A folder with N open conflicts (edited here and on a second device), and a file with
    three versions to restore."""
    a = tmp_path / "Docs"
    a.mkdir()
    names = [f"c{i}.txt" for i in range(n)]
    for name in names:
        (a / name).write_text(f"{name} base\n")
    (a / "r.txt").write_text("r version 1\n")
    code, out, err = run_cli("init", str(a), "--device", "laptop", "--json")
    assert code == 0, err
    hub = Path(json.loads(out)["remote"])
    for v in (2, 3):
        (a / "r.txt").write_text(f"r version {v}\n")
        assert run_cli("sync", str(a))[0] == 0
    home_b = tmp_path / "home-b"
    b = tmp_path / "B"
    code, _, err = run_cli("clone", str(hub), str(b), "--device", "desktop", home=home_b)
    assert code == 0, err
    for name in names:
        (b / name).write_text(f"{name} from desktop\n")
        (a / name).write_text(f"{name} from laptop\n")
    code, _, err = run_cli("sync", str(b), home=home_b)
    assert code == 0, err
    code, _, err = run_cli("sync", str(a))
    assert code == 1, err  # conflicts left
    code, out, _ = run_cli("conflicts", str(a), "--json")
    assert len(json.loads(out)["folders"][0]["conflicts"]) == n
    return a, hub, names


@pytest.mark.slow
def test_cli_writes_and_a_busy_writer_never_race_the_daemon(tmp_path: Path) -> None:
    a, hub, conflicted = _conflicted_folder(tmp_path, 4)
    r_versions = git(a, "rev-list", "HEAD", "--", "r.txt").split()
    assert len(r_versions) == 3
    written: dict[str, bytes] = {}
    live: list[bytes] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        """Saves every 50 ms: a new file each time, and rewrites live.txt."""
        try:
            (a / "w").mkdir(exist_ok=True)
            i = 0
            while not stop.is_set():
                i += 1
                name = f"w/{i:04d}.txt"
                data = f"file {i} written at {time.time()}\n".encode()
                (a / name).write_bytes(data)
                written[name] = data
                body = f"live {i}\n".encode()
                (a / "live.txt").write_bytes(body)
                live.append(body)
                time.sleep(0.05)
        except BaseException as e:  # surfaced in the main thread
            failures.append(e)

    commands: list[tuple[str, int]] = []
    with daemon("--debounce", "0.3", log=tmp_path / "daemon.log") as d:
        t = threading.Thread(target=writer, name="busy-writer")
        t.start()
        try:
            for i in range(6):
                p = run_proc("sync", str(a), timeout=120)
                assert p.returncode in (0, 1), p.stderr
                commands.append(("sync", p.returncode))
                rev = r_versions[1 + i % 2]
                p = run_proc("restore", "r.txt", "--rev", rev, cwd=a, timeout=120)
                assert p.returncode == 0, p.stderr
                assert "Traceback" not in p.stderr
                commands.append(("restore", p.returncode))
                if i < len(conflicted):
                    choice = "--theirs" if i % 2 else "--ours"
                    p = run_proc("resolve", conflicted[i], choice, cwd=a, timeout=120)
                    assert p.returncode == 0, p.stderr
                    commands.append(("resolve", p.returncode))
        finally:
            stop.set()
            t.join()
        assert not failures, failures
        # Every command was carried out by the daemon's worker, not by the CLI process.
        log = d.output()
        assert log.count("running 'sync' for a command") == 6, log
        assert log.count("running 'restore' for a command") == 6, log
        assert log.count("running 'resolve' for a command") == len(conflicted), log
        last_name = max(written)
        assert wait_for(lambda: git(a, "status", "--porcelain", "--", "w", "live.txt") == "",
                        30), git(a, "status", "--porcelain")
    head = git(a, "rev-parse", "HEAD").strip()
    assert _sh(a, head, last_name).encode() == written[last_name]
    # Nothing the writer saved was lost or overwritten: every file is in history and on
    # disk with the content it was given; live.txt holds the last save.
    tree = set(git(a, "ls-tree", "-r", "--name-only", "HEAD", "w").split())
    assert tree == set(written), set(written) ^ tree
    for name, data in written.items():
        assert (a / name).read_bytes() == data
    blobs = subprocess.run(["git", "cat-file", "--batch"], cwd=a, capture_output=True,
                           input="".join(f"HEAD:{n}\n" for n in sorted(written)).encode(),
                           check=True).stdout
    for data in written.values():
        assert data in blobs
    assert (a / "live.txt").read_bytes() == live[-1]
    assert _sh(a, "HEAD", "live.txt").encode() == live[-1]
    # The restores and resolutions are in history, each once, and took effect.
    subjects = git(a, "log", "--format=%s").splitlines()
    assert sum("restored r.txt" in s for s in subjects) == 6
    assert sum("resolved conflict" in s for s in subjects) == len(conflicted)
    assert (a / "r.txt").read_text() == _sh(a, r_versions[2], "r.txt")  # the last restore
    code, out, _ = run_cli("conflicts", str(a), "--json")
    assert code == 0
    assert json.loads(out)["folders"][0]["conflicts"] == []
    for i, name in enumerate(conflicted):
        side = "desktop" if i % 2 else "laptop"
        assert (a / name).read_text() == f"{name} from {side}\n"
    assert not list(a.glob("* (conflict *"))
    # Plain git agrees: sound history everywhere, and the hub has all of it.
    fsck_clean(a)
    fsck_clean(hub)
    assert git(hub, "rev-parse", "main").strip() == head
    assert not (a / ".git" / "index.lock").exists()
