"""The CLI end to end (in-process for speed; a few runs as a real process), git as judge."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.helpers import commit_count, fsck_clean, git, run_cli, run_proc


def init(folder: Path, *extra: str) -> dict:
    code, out, err = run_cli("init", str(folder), "--device", "laptop", "--json", *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "Docs"
    d.mkdir()
    (d / "notes.txt").write_text("first\n")
    (d / "sub").mkdir()
    (d / "sub" / "plan.md").write_text("# plan\n")
    (d / "~$notes.docx").write_text("owner file")
    (d / "empty-dir").mkdir()
    return d


def test_init_snapshots_everything_and_creates_a_local_hub(folder: Path, sealed_env: Path
                                                           ) -> None:
    info = init(folder)
    hub = Path(info["remote"])
    assert sealed_env in hub.parents and hub.name.endswith(".git")
    assert git(folder, "ls-files").split() == ["notes.txt", "sub/plan.md"]
    assert commit_count(folder) == 1
    assert git(folder, "status", "--porcelain") == ""  # temp file excluded for git too
    fsck_clean(folder)
    code, out, _ = run_cli("sync", str(folder))
    assert code == 0 and "pushed" in out
    clone = folder.parent / "clone"
    git(folder.parent, "clone", "-q", str(hub), str(clone))
    assert (clone / "notes.txt").read_text() == "first\n"


def test_init_cut_by_a_kill_can_be_run_again(folder: Path, sealed_env: Path) -> None:
    # A kill -9 between creating the hub and recording the remote skips init's own clean-up:
    # the folder has a .git without a remote, and an empty hub sits where init puts it.
    from gitsync.config import Paths, folder_key
    from gitsync.repo import Repo, init_bare

    hub = Paths.discover().hubs_dir / f"{folder_key(folder.resolve())}.git"
    init_bare(hub)
    Repo.init(folder)
    info = init(folder)
    assert Path(info["remote"]) == hub
    assert git(folder, "ls-files").split() == ["notes.txt", "sub/plan.md"]
    assert run_cli("sync", str(folder))[0] == 0
    assert git(hub, "ls-tree", "-r", "--name-only", "main").split() == [
        "notes.txt", "sub/plan.md"]


def test_init_cut_while_moving_the_branch_can_be_run_again(folder: Path) -> None:
    # Killed as its first commit moved the branch: a repository without a commit, and the
    # branch's lock file that no process holds any more. The next init clears the lock.
    from gitsync.config import Paths, folder_key
    from gitsync.repo import Repo, init_bare

    hub = Paths.discover().hubs_dir / f"{folder_key(folder.resolve())}.git"
    init_bare(hub)
    Repo.init(folder)
    lock = folder / ".git" / "refs" / "heads" / "main.lock"
    lock.write_bytes(b"")
    init(folder)
    assert not lock.exists()
    assert git(folder, "ls-files").split() == ["notes.txt", "sub/plan.md"]
    assert git(folder, "status", "--porcelain") == ""
    fsck_clean(folder)


def test_init_cut_while_making_its_hub_can_be_run_again(folder: Path) -> None:
    from gitsync.config import Paths, folder_key

    hub = Paths.discover().hubs_dir / f"{folder_key(folder.resolve())}.git"
    (hub / "objects").mkdir(parents=True)  # killed before the hub was a repository
    info = init(folder)
    assert Path(info["remote"]) == hub
    assert run_cli("sync", str(folder))[0] == 0
    assert "notes.txt" in git(hub, "ls-tree", "-r", "--name-only", "main")


def test_init_refuses_a_hub_that_holds_history(folder: Path, tmp_path: Path) -> None:
    from gitsync.config import Paths, folder_key

    hub = Paths.discover().hubs_dir / f"{folder_key(folder.resolve())}.git"
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "x.txt").write_text("someone else's\n")
    git(other, "add", ".")
    git(other, "commit", "-qm", "x")
    git(tmp_path, "clone", "-q", "--bare", str(other), str(hub))
    code, _, err = run_cli("init", str(folder), "--device", "laptop")
    assert code == 2 and "a hub already exists" in err
    assert not (folder / ".git").exists()  # nothing half-made is left


def test_init_adopts_an_existing_repo(tmp_path: Path) -> None:
    d = tmp_path / "proj"
    d.mkdir()
    git(d, "init", "-q", "-b", "trunk")
    (d / ".gitignore").write_text("*.o\n")
    (d / "main.c").write_text("int main;\n")
    git(d, "add", ".")
    git(d, "commit", "-qm", "mine")
    (d / "x.o").write_text("obj")
    (d / "main.c").write_text("int main(void);\n")
    info = init(d)
    assert info["branch"] == "trunk"
    assert commit_count(d) == 2
    assert git(d, "log", "--format=%s").splitlines()[1] == "mine"
    assert "x.o" not in git(d, "ls-files")
    assert git(d, "rev-parse", "--abbrev-ref", "HEAD").strip() == "trunk"


def test_adopted_repo_keeps_its_origin(tmp_path: Path) -> None:
    hub = tmp_path / "hub.git"
    git(tmp_path, "init", "-q", "--bare", str(hub))
    d = tmp_path / "proj"
    git(tmp_path, "clone", "-q", str(hub), str(d))
    info = init(d)
    assert info["remote"] == str(hub)
    d2 = tmp_path / "proj2"
    git(tmp_path, "clone", "-q", str(hub), str(d2))
    code, _, err = run_cli("init", str(d2), "--remote", "/elsewhere.git")
    assert code == 2 and "already has the remote" in err
    assert git(d2, "remote", "get-url", "origin").strip() == str(hub)


@pytest.mark.parametrize("case", ["missing", "file", "nested", "inside-home", "twice",
                                  "contains", "subdir-of-repo"])
def test_bad_init_is_one_line_exit_2_and_changes_nothing(case: str, folder: Path,
                                                         tmp_path: Path,
                                                         sealed_env: Path) -> None:
    target: Path
    if case == "missing":
        target = tmp_path / "nope"
    elif case == "file":
        target = folder / "notes.txt"
    elif case == "nested":
        init(folder)
        target = folder / "sub"
    elif case == "inside-home":
        target = sealed_env / "data"
        target.mkdir(parents=True, exist_ok=True)
    elif case == "twice":
        init(folder)
        target = folder
    elif case == "contains":
        init(folder)
        target = tmp_path
    else:
        repo = tmp_path / "r"
        (repo / "inner").mkdir(parents=True)
        git(repo, "init", "-q")
        target = repo / "inner"
    before_cfg = (sealed_env / "config" / "config.toml")
    cfg_before = before_cfg.read_text() if before_cfg.exists() else None
    had_git = (target / ".git").exists()
    code, out, err = run_cli("init", str(target))
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("gitsync: "), err
    assert "Traceback" not in err
    assert (before_cfg.read_text() if before_cfg.exists() else None) == cfg_before
    assert (target / ".git").exists() == had_git


def test_errors_as_a_real_process_have_no_traceback(tmp_path: Path, sealed_env: Path) -> None:
    r = run_proc("init", str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    r = run_proc("log", "--folder", str(tmp_path))
    assert r.returncode == 2 and "not a synced folder" in r.stderr
    (sealed_env / "config").mkdir(exist_ok=True)
    (sealed_env / "config" / "config.toml").write_text("this is [ not toml")
    r = run_proc("status")
    assert r.returncode == 2 and "corrupt" in r.stderr and "Traceback" not in r.stderr
    r = run_proc("frobnicate")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_folders_and_forget(folder: Path) -> None:
    init(folder)
    code, out, _ = run_cli("folders", "--json")
    assert json.loads(out)["folders"][0]["path"] == str(folder)
    code, out, _ = run_cli("forget", str(folder))
    assert code == 0
    assert json.loads(run_cli("folders", "--json")[1])["folders"] == []
    assert (folder / ".git").is_dir() and (folder / "notes.txt").exists()
    code, _, err = run_cli("forget", str(folder))
    assert code == 2 and "not a synced folder" in err


def _edit_and_sync(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    code, out, err = run_cli("sync", str(folder), "--json")
    assert code == 0, err
    return json.loads(out)["folders"][0]["committed"]["id"]


def test_log_show_restore_with_renames(folder: Path) -> None:
    init(folder)
    v2 = _edit_and_sync(folder, "notes.txt", "second\n")
    (folder / "notes.txt").rename(folder / "renamed.txt")
    run_cli("sync", str(folder))
    _edit_and_sync(folder, "renamed.txt", "third\n")
    code, out, _ = run_cli("log", "renamed.txt", "--json", cwd=folder)
    assert code == 0
    doc = json.loads(out)
    kinds = [c["changes"][0]["kind"] for c in doc["commits"]]
    assert kinds == ["edited", "renamed", "edited", "added"]
    assert all(c["device"] == "laptop" for c in doc["commits"])
    code, out, _ = run_cli("log", "-n", "2", "--folder", str(folder), "--json")
    assert len(json.loads(out)["commits"]) == 2
    # show an old version by id and by path relative to the current directory
    code, out, _ = run_cli("show", "notes.txt", "--rev", v2, cwd=folder)
    assert out == "second\n"
    code, out, err = run_cli("show", "renamed.txt", "--rev", "nonsense", cwd=folder)
    assert code == 2 and "unknown revision" in err
    code, out, err = run_cli("show", "nothere.txt", cwd=folder)
    assert code == 2 and "does not exist" in err
    # restore: a new commit, history kept
    n = commit_count(folder)
    code, out, err = run_cli("restore", "renamed.txt", cwd=folder)
    assert code == 0, err
    assert (folder / "renamed.txt").read_text() == "second\n"
    assert commit_count(folder) == n + 1
    assert "restored renamed.txt" in git(folder, "log", "-1", "--format=%s")
    fsck_clean(folder)


def test_restore_by_time_and_deleted_file(folder: Path) -> None:
    init(folder)
    # Age the first snapshot by 3 days (before anything was pushed), as if made back then.
    old = f"@{int(time.time()) - 3 * 86400} +0000"
    os.environ["GIT_COMMITTER_DATE"] = old
    try:
        git(folder, "commit", "--amend", "-q", "--no-edit", f"--date={old}")
    finally:
        os.environ.pop("GIT_COMMITTER_DATE")
    _edit_and_sync(folder, "notes.txt", "today\n")
    code, out, _ = run_cli("show", "notes.txt", "--rev", "1d", cwd=folder)
    assert out == "first\n"
    code, _, err = run_cli("show", "notes.txt", "--rev", "10d", cwd=folder)
    assert code == 2 and "no version" in err
    (folder / "notes.txt").unlink()
    run_cli("sync", str(folder))
    code, out, err = run_cli("restore", "notes.txt", cwd=folder)
    assert code == 0, err
    assert (folder / "notes.txt").read_text() == "today\n"
    code, out, err = run_cli("restore", "notes.txt", "--rev", "2 days", cwd=folder)
    assert code == 0, err
    assert (folder / "notes.txt").read_text() == "first\n"


def test_status_lists_pending_and_too_large(folder: Path, sealed_env: Path) -> None:
    init(folder)
    cfg = sealed_env / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace("[settings]", "[settings]\nsize_limit = 1000"))
    (folder / "big.bin").write_bytes(b"z" * 5000)
    (folder / "notes.txt").write_text("changed\n")
    code, out, _ = run_cli("status", str(folder), "--json")
    st = json.loads(out)["folders"][0]
    assert st["state"] == "stopped" and st["daemon_running"] is False
    assert sorted(st["pending"]) == ["big.bin", "notes.txt"]
    assert st["skipped"][0]["path"] == "big.bin" and "too large" in st["skipped"][0]["reason"]
    code, out, _ = run_cli("sync", str(folder))
    assert code == 0
    assert "big.bin" not in git(folder, "ls-files")
    _, out, _ = run_cli("status")
    assert "not synced   big.bin" in out and "last commit" in out


def test_paths_outside_any_folder(tmp_path: Path, folder: Path) -> None:
    init(folder)
    code, _, err = run_cli("show", str(tmp_path / "x.txt"))
    assert code == 2 and "not inside a synced folder" in err
    code, _, err = run_cli("show", ".git/config", cwd=folder)
    assert code == 2


def test_sync_with_unreachable_remote_is_exit_3(tmp_path: Path) -> None:
    d = tmp_path / "f"
    d.mkdir()
    (d / "a").write_text("a")
    init(d, "--remote", str(tmp_path / "no-such-hub.git"))
    code, _, err = run_cli("sync", str(d))
    assert code == 3 and err.count("\n") == 1
    assert commit_count(d) == 1  # the local commit stands; it is pushed when the hub is back


def test_mid_merge_folder_is_paused(folder: Path) -> None:
    init(folder)
    (folder / ".git" / "MERGE_HEAD").write_text(git(folder, "rev-parse", "HEAD"))
    code, _, err = run_cli("sync", str(folder))
    assert code == 2 and "merge is in progress" in err
    code, out, _ = run_cli("status", "--json")
    st = json.loads(out)["folders"][0]
    assert st["state"] == "paused" and "merge" in st["state_reason"]


def test_log_patch_shows_text_and_word_document_changes(folder: Path) -> None:
    from gitsync.samples import docx_bytes

    init(folder)
    (folder / "report.docx").write_bytes(docx_bytes(["Intro", "Sales grew in March."]))
    run_cli("sync", str(folder))
    (folder / "report.docx").write_bytes(docx_bytes(["Intro", "Sales grew in April.",
                                                     "A new closing line."]))
    (folder / "notes.txt").write_text("first\nsecond\n")
    run_cli("sync", str(folder))
    code, out, err = run_cli("log", "-p", "-n", "1", "--folder", str(folder))
    assert code == 0, err
    assert "+second" in out and "--- a/notes.txt" in out
    assert "~ paragraph 2: Sales grew in April." in out
    assert "[-March-]{+April+}" in out
    assert "+ paragraph 3: A new closing line." in out
    code, out, _ = run_cli("log", "report.docx", "-p", "--json", cwd=folder)
    patches = [c["patches"]["report.docx"] for c in json.loads(out)["commits"]]
    assert patches[-1].startswith("+ paragraph 1: Intro")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop DAC capabilities")
def test_unwritable_dir_is_refused(tmp_path: Path) -> None:
    # Root writes anywhere; without the capabilities that let it, a 0555 folder is as
    # unwritable to it as to a normal user.
    d = tmp_path / "ro"
    d.mkdir()
    (d / "x.txt").write_text("x")
    d.chmod(0o555)
    import subprocess
    import sys

    r = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                        sys.executable, "-m", "gitsync.cli", "init", str(d)],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "not writable" in r.stderr and r.stderr.count("\n") == 1
    assert not (d / ".git").exists()
