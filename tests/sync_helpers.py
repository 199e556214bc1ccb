"""Several devices syncing through one bare hub, driven through the CLI in-process.

Each device is a folder registered in the test's private GITSYNC_HOME: device A is made
with ``gitsync init`` (which creates the hub), B and C join with ``gitsync clone``. The real
``git`` CLI is the independent judge: history shape (``git log``), content (``git show``),
integrity (``git fsck --strict``) and a clean ``git status`` after every sync. The
tests/test_sync_*.py modules share these builders and checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import fsck_clean, git, run_cli

MARKERS = (b"<<<<<<<", b">>>>>>>", b"|||||||")


@dataclass
class Net:
    """A hub and the devices that sync through it."""

    hub: Path
    devices: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Path:
        return self.devices[name]


def init_device(folder: Path, device: str, *extra: str) -> dict:
    code, out, err = run_cli("init", str(folder), "--device", device, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def make_net(tmp_path: Path, files: dict[str, bytes | str], n: int = 2) -> Net:
    """Device A ("laptop") with FILES, synced to a new hub; then B ("desktop"), C ("tablet")
    cloned from it. Every device is in sync when this returns."""
    a = tmp_path / "A"
    a.mkdir()
    for name, content in files.items():
        p = a / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
    hub = Path(init_device(a, "laptop")["remote"])
    sync(a)
    net = Net(hub, {"A": a})
    for key, device in (("B", "desktop"), ("C", "tablet"))[: n - 1]:
        d = tmp_path / key
        code, _, err = run_cli("clone", str(hub), str(d), "--device", device)
        assert code == 0, err
        net.devices[key] = d
    return net


def sync(folder: Path, expect: int = 0, *, clean: bool = True) -> dict:
    """``gitsync sync --json`` on FOLDER; asserts the exit status and (unless CLEAN is false,
    for files waiting for an editor) that git sees nothing uncommitted."""
    code, out, err = run_cli("sync", str(folder), "--json")
    assert code == expect, (code, out, err)
    report: dict = json.loads(out)["folders"][0]
    if not clean:
        return report
    assert git(folder, "status", "--porcelain", "--untracked-files=all") == "", \
        git(folder, "status")
    return report


def sync_all(net: Net, rounds: int = 2, expect: int = 0) -> None:
    """Enough rounds for every device to see every other's changes."""
    for _ in range(rounds):
        for d in net.devices.values():
            sync(d, expect)


def head(folder: Path) -> str:
    return git(folder, "rev-parse", "HEAD").strip()


def parents(folder: Path, rev: str = "HEAD") -> list[str]:
    return git(folder, "rev-list", "--parents", "-n", "1", rev).split()[1:]


def copies(folder: Path, stem: str) -> list[Path]:
    """Conflict copies of STEM in FOLDER (``STEM (conflict ...``)."""
    return sorted(folder.glob(f"{stem} (conflict *"))


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file of the folder (not .git) with its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[0] == ".git" or not p.is_file():
            continue
        out[rel.as_posix()] = p.read_bytes()
    return out


def assert_no_markers(*folders: Path) -> None:
    for folder in folders:
        for rel, data in files_of(folder).items():
            assert not any(m in data for m in MARKERS), f"conflict markers in {folder}/{rel}"


def assert_same(net: Net) -> None:
    """Every device holds the same files and the same HEAD, and each repo is sound."""
    first = next(iter(net.devices.values()))
    for d in net.devices.values():
        assert head(d) == head(first)
        assert files_of(d) == files_of(first)
        fsck_clean(d)
    assert git(net.hub, "rev-parse", "refs/heads/main").strip() == head(first)


def conflicts_json(folder: Path) -> list[dict]:
    code, out, err = run_cli("conflicts", str(folder), "--json")
    assert code == 0, err
    recs: list[dict] = json.loads(out)["folders"][0]["conflicts"]
    return recs


LINES = "".join(f"line {i}\n" for i in range(1, 11))


def docx_lines(path: Path) -> list[str]:
    code, out, err = run_cli("docx-text", str(path))
    assert code == 0, err
    return out.splitlines()

