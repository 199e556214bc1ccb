"""Registering and unregistering synced folders, and finding the folder a path belongs to.

Registration is all or nothing: every check runs before anything is written, and what
``init`` created (a new ``.git``, a local hub) is removed again if a later step fails, so a
failed ``init`` leaves the folder and the config exactly as they were.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitsync.committer import Committer
from gitsync.config import Config, FolderConfig, Paths, folder_key, load_config, save_config
from gitsync.conflicts import ConflictRecord
from gitsync.errors import FolderError, UserError
from gitsync.ignore import IgnoreRules, exclude_patterns
from gitsync.repo import Entry, Repo, holds_no_history, init_bare, is_inside_repo

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def default_device() -> str:
    return socket.gethostname().split(".")[0] or "device"


def _check_dir(path: Path) -> Path:
    if not path.exists():
        raise FolderError(f"{path} does not exist", path=str(path),
                          hint="create it first (mkdir) or check the spelling")
    if not path.is_dir():
        raise FolderError(f"{path} is not a directory", path=str(path),
                          hint="give the folder that holds your files")
    if not os.access(path, os.W_OK | os.X_OK):
        raise FolderError(f"{path} is not writable", path=str(path),
                          hint="fix its permissions or choose a folder you own")
    return path.resolve()


def _within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def find_folder(config: Config, path: Path) -> FolderConfig | None:
    """The registered folder that contains PATH (the deepest one)."""
    p = path.resolve()
    best: FolderConfig | None = None
    for fc in config.folders.values():
        if (p == fc.path or _within(p, fc.path)) and (
            best is None or len(fc.path.parts) > len(best.path.parts)
        ):
            best = fc
    return best


def resolve_path(config: Config, path_arg: str, folder_arg: str | None = None,
                 cwd: Path | None = None) -> tuple[FolderConfig, str]:
    """A PATH argument (relative to the current directory) as (folder, path in the folder)."""
    base = cwd or Path.cwd()
    raw = Path(path_arg)
    full = raw if raw.is_absolute() else base / raw
    # Don't resolve symlinks of the last component: a link is itself a synced file.
    full = full.parent.resolve() / full.name if full.name not in ("", ".", "..") else full.resolve()
    if folder_arg:
        fc = config.folders.get(str(Path(folder_arg).resolve()))
        if fc is None:
            raise FolderError(f"{folder_arg} is not a synced folder", path=folder_arg,
                              hint="see 'gitsync folders'")
        if not raw.is_absolute() and not _within(full, fc.path):
            full = fc.path / path_arg
    else:
        fc = find_folder(config, full)
        if fc is None:
            raise FolderError(f"{path_arg} is not inside a synced folder", path=path_arg,
                              hint="see 'gitsync folders', or pass --folder DIR")
    try:
        rel = full.relative_to(fc.path).as_posix()
    except ValueError:
        raise FolderError(f"{path_arg} is not inside {fc.path}", path=path_arg) from None
    if rel in ("", "."):
        raise UserError(f"{path_arg} is the folder itself; give a file inside it")
    if rel.split("/", 1)[0] == ".git":
        raise UserError(f"{path_arg} is inside .git; gitsync does not sync git's own files")
    return fc, rel


def folder_for(config: Config, dir_arg: str | None, cwd: Path | None = None) -> list[FolderConfig]:
    """The folders a command acts on: the one containing DIR, or all of them."""
    if dir_arg is None:
        return [config.folders[k] for k in sorted(config.folders)]
    p = Path(dir_arg)
    p = (p if p.is_absolute() else (cwd or Path.cwd()) / p).resolve()
    fc = find_folder(config, p)
    if fc is None:
        raise FolderError(f"{dir_arg} is not a synced folder", path=dir_arg,
                          hint="register it with 'gitsync init DIR' or see 'gitsync folders'")
    return [fc]


def register(
    paths: Paths,
    dir_arg: str,
    *,
    remote: str | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> FolderConfig:
    config = load_config(paths)
    folder = _check_dir(Path(dir_arg).expanduser())
    if str(folder) in config.folders:
        raise FolderError(f"{folder} is already a synced folder", path=str(folder),
                          hint="see 'gitsync status'")
    for fc in config.folders.values():
        if _within(folder, fc.path):
            raise FolderError(f"{folder} is inside the synced folder {fc.path}",
                              path=str(folder), hint="its files are synced already")
        if _within(fc.path, folder):
            raise FolderError(f"{folder} contains the synced folder {fc.path}",
                              path=str(folder),
                              hint=f"run 'gitsync forget {fc.path}' first, or choose another")
    if paths.owns(folder) or any(_within(d.resolve(), folder) for d in
                                 (paths.config_dir, paths.data_dir, paths.state_dir)
                                 if d.exists()):
        raise FolderError(f"{folder} overlaps gitsync's own data directory", path=str(folder),
                          hint="choose a folder outside it")
    existing_root = is_inside_repo(folder)
    adopt = existing_root == folder
    if existing_root is not None and not adopt:
        raise FolderError(f"{folder} is inside the git repository {existing_root}",
                          path=str(folder),
                          hint=f"register {existing_root} itself, or choose another folder")
    device = device or default_device()
    created: list[Path] = []
    try:
        if adopt:
            repo = Repo(folder)
            reason = repo.pause_reason()
            if reason:
                raise FolderError(f"cannot adopt {folder}: {reason}", path=str(folder))
            current = repo.remote_url("origin")
            if remote and current and current != remote:
                raise FolderError(
                    f"{folder} already has the remote origin = {current}", path=str(folder),
                    hint=f"pass --remote {current}, or change it with 'git remote set-url'")
            remote = remote or current
        else:
            created.append(folder / ".git")
            repo = Repo.init(folder)
        branch = repo.branch()
        if not remote:
            hub = paths.hubs_dir / f"{folder_key(folder)}.git"
            if not hub.exists():
                init_bare(hub, branch)
                created.append(hub)
            elif _left_by_a_cut_init(hub, config):
                init_bare(hub, branch)  # finishes a half-made one; harmless on a whole one
            else:
                raise FolderError(f"a hub already exists at {hub}", path=str(folder),
                                  hint="remove it or pass --remote")
            remote = str(hub)
        repo.set_remote("origin", remote)
        fc = FolderConfig(folder, device, remote, branch)
        settings = config.effective(fc)
        repo.install_excludes(exclude_patterns(settings["ignore"]))
        _first_snapshot(repo, fc, settings, progress)
        config.folders[str(folder)] = fc
        save_config(paths, config)
    except BaseException:
        for p in created:
            shutil.rmtree(p, ignore_errors=True)
        raise
    return fc


def _left_by_a_cut_init(hub: Path, config: Config) -> bool:
    """An empty hub no registered folder uses: what an init killed before it could clean up
    leaves behind (it pushes nothing), so running init again may take it over."""
    return (not any(fc.remote == str(hub) for fc in config.folders.values())
            and holds_no_history(hub))


def _first_snapshot(repo: Repo, fc: FolderConfig, settings: dict[str, Any],
                    progress: Progress | None) -> None:
    """Commit everything the folder holds (adopted repos: what is uncommitted)."""
    committer = Committer(repo, fc.device, size_limit=int(settings["size_limit"]),
                          ignore=IgnoreRules(settings["ignore"]))
    committer.commit_all(progress)


def unregister(paths: Paths, dir_arg: str) -> FolderConfig:
    config = load_config(paths)
    p = Path(dir_arg).expanduser()
    key = str(p.resolve())
    fc = config.folders.get(key)
    if fc is None:
        raise FolderError(f"{dir_arg} is not a synced folder", path=dir_arg,
                          hint="see 'gitsync folders'")
    del config.folders[key]
    save_config(paths, config)
    return fc


__all__ = ["clone_folder", "find_folder", "folder_for", "register", "resolve_path",
           "unregister"]


def clone_folder(
    paths: Paths,
    url: str,
    dir_arg: str,
    *,
    device: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[FolderConfig, list[ConflictRecord]]:
    """Join a folder synced from another device: clone URL into DIR and register it.

    DIR is created if missing. Files DIR already holds are merged in, never overwritten:
    a file the remote lacks is committed as a local addition; one the remote has with other
    content stays as it is and the remote's version is written beside it as a conflict copy.
    """
    from gitsync.transport import clone

    target = Path(dir_arg).expanduser()
    created = False
    if not target.exists():
        parent = target.parent if target.parent != Path("") else Path.cwd()
        if not parent.is_dir():
            raise FolderError(f"{parent} does not exist", path=str(parent),
                              hint="create the parent folder first")
        target.mkdir()
        created = True
    folder = _check_dir(target)
    config = load_config(paths)
    if str(folder) in config.folders:
        raise FolderError(f"{folder} is already a synced folder", path=str(folder))
    if (folder / ".git").exists():
        raise FolderError(f"{folder} is already a git repository", path=str(folder),
                          hint="register it with 'gitsync init' instead")
    device = device or default_device()
    tmp = folder.parent / f".{folder.name}.gitsync-clone"
    if tmp.exists():
        shutil.rmtree(tmp)
    records: list[ConflictRecord] = []
    try:
        clone(url, tmp, branch=None, progress=progress)
        os.replace(tmp / ".git", folder / ".git")
        shutil.rmtree(tmp, ignore_errors=True)
        repo = Repo(folder)
        records = _merge_in_existing(repo, device)
        fc = register(paths, str(folder), remote=url, device=device)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            shutil.rmtree(folder / ".git", ignore_errors=True)
        raise
    return fc, records


def _merge_in_existing(repo: Repo, device: str) -> list[ConflictRecord]:
    """Write the cloned files around what the folder already holds (see clone_folder)."""
    from gitsync.conflicts import copy_name, now_utc
    from gitsync.repo.trees import MODE_BLOB
    from gitsync.worktree import WorktreeUpdater, check_path

    head = repo.head_id()
    if head is None:
        return []
    updater = WorktreeUpdater(repo)
    theirs_device = repo.commit_device(head) or "remote"
    when = now_utc()
    records = []
    taken = lambda c: (repo.workdir / c).exists()  # noqa: E731
    with updater.batch():  # one flush for all the files, before the snapshot
        for change in repo.diff_commits(None, head, renames=False):
            path = change.new_path
            assert path is not None and change.new is not None
            check_path(path)
            clash = _file_in_the_way(repo.workdir, path)
            full = repo.workdir / path
            if clash is None and not full.exists() and not full.is_symlink():
                updater.write_one(path, change.new)
                continue
            disk = None if clash is not None else repo.disk_entry(path)
            if disk is not None and disk.oid == change.new.oid:
                continue
            if clash is not None:  # a file here where the remote has a folder: rename theirs
                cpath = copy_name(clash, theirs_device, when, taken) + path[len(clash):]
            else:
                cpath = copy_name(path, theirs_device, when, taken)
            updater.write_one(cpath, change.new)
            # Ours is the file here; its blob is written by the first snapshot that follows.
            rec = ConflictRecord.create(
                path=path,
                copy_path=cpath, kind="path" if clash is not None else "add-add", base=None,
                ours=disk.oid if disk else None, theirs=change.new.oid, ours_device=device,
                theirs_device=theirs_device, time=when)
            updater.write_one(rec.record_path, Entry(repo.write_blob(rec.dumps()), MODE_BLOB))
            records.append(rec)
    return records


def _file_in_the_way(root: Path, path: str) -> str | None:
    """The first parent of PATH that exists as something other than a folder."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        full = root / prefix
        if full.is_symlink() or (full.exists() and not full.is_dir()):
            return prefix
    return None
