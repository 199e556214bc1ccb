"""A big merge round: its objects in one pack (git fast-import), its push beside the disk
update, and a save made while the files are written, which must not be lost."""

from __future__ import annotations

from pathlib import Path

from gitsync.committer import Committer
from gitsync.ignore import IgnoreRules
from gitsync.repo import Entry, Repo
from gitsync.repo.trees import FAST_IMPORT_MIN
from gitsync.sync import Syncer
from gitsync.worktree import WorktreeUpdater
from tests.helpers import fsck_clean, git

N = FAST_IMPORT_MIN + 16  # enough changes for the pack and for the batched disk update
BODY = "".join(f"line {i}\n" for i in range(10))


def edit(root: Path, names: list[str], line: int, tag: str) -> None:
    for name in names:
        lines = (root / name).read_text().splitlines(keepends=True)
        lines[line] = f"{tag}\n"
        (root / name).write_text("".join(lines))


def setup(tmp_path: Path) -> tuple[Path, Path, Path, list[str]]:
    """A hub; A pushed edits to N files; B committed edits to other lines of them."""
    hub, a, b = tmp_path / "hub.git", tmp_path / "A", tmp_path / "B"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(hub))
    a.mkdir()
    git(a, "init", "-q", "-b", "main")
    names = [f"d{i % 7}/f{i:03d}.txt" for i in range(N)]
    for name in names:
        (a / name).parent.mkdir(exist_ok=True)
        (a / name).write_text(BODY)
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "base")
    git(a, "push", "-q", str(hub), "main")
    git(tmp_path, "clone", "-q", str(hub), str(b))
    edit(a, names, 1, "theirs")
    git(a, "commit", "-q", "-am", "theirs")
    git(a, "push", "-q", str(hub), "main")
    edit(b, names, 8, "ours")
    git(b, "commit", "-q", "-am", "ours")
    return hub, a, b, names


def round_on(b: Path, hub: Path, own_write: object = None) -> tuple[Syncer, Committer]:
    repo = Repo(b)
    committer = Committer(repo, "desktop", size_limit=10**9, ignore=IgnoreRules())
    updater = WorktreeUpdater(repo, own_write)  # type: ignore[arg-type]
    return Syncer(repo, str(hub), "main", device="desktop", updater=updater), committer


def test_a_big_merge_is_pushed_written_and_packed(tmp_path: Path) -> None:
    hub, _a, b, names = setup(tmp_path)
    packs = len(list((b / ".git" / "objects" / "pack").glob("*.pack")))
    syncer, committer = round_on(b, hub)
    out = syncer.sync(committer)
    assert out.action == "merged" and out.pushed == out.head
    assert git(hub, "rev-parse", "main").strip() == out.head == git(b, "rev-parse", "HEAD").strip()
    assert git(b, "rev-parse", "origin/main").strip() == out.head
    assert len(list((b / ".git" / "objects" / "pack").glob("*.pack"))) == packs + 1
    for name in names:
        lines = (b / name).read_text().splitlines()
        assert lines[1] == "theirs" and lines[8] == "ours"
    assert git(b, "status", "--porcelain") == ""
    fsck_clean(b)
    fsck_clean(hub)


def test_a_save_made_while_the_merge_is_written_is_kept(tmp_path: Path) -> None:
    hub, _a, b, names = setup(tmp_path)
    last = sorted(names)[-1]
    saved = "the user's save, made while the round wrote the other files\n"

    def save_once(path: str, _entry: Entry | None) -> None:
        # The first write of the round: the user saves a file the round writes later. The
        # merge's push has started by now.
        if path != last and not saves:
            saves.append(path)
            (b / last).write_text(saved)

    saves: list[str] = []
    syncer, committer = round_on(b, hub, save_once)
    out = syncer.sync(committer)
    assert saves, "the save was made during the round"
    assert out.action == "merged"
    assert [c.summary for c in out.committed] != []  # the save was committed first
    assert (b / last).read_text() == saved  # never overwritten
    hub_tip = git(hub, "rev-parse", "main").strip()
    assert hub_tip == out.head == git(b, "rev-parse", "HEAD").strip()
    assert git(hub, "show", f"main:{last}") == saved
    # The first merge went to the hub beside the disk update; the save was merged on top.
    assert git(hub, "rev-list", "--merges", "--count", "main").strip() == "2"
    for name in names:
        if name != last:
            lines = (b / name).read_text().splitlines()
            assert lines[1] == "theirs" and lines[8] == "ours"
            assert git(hub, "show", f"main:{name}").splitlines()[1] == "theirs"
    assert git(b, "status", "--porcelain") == ""
    fsck_clean(b)
