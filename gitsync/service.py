"""What the CLI (and later the web server and the notifier) call.

Each function takes plain arguments, does one user-level operation, and returns gitsync's
own dataclasses; errors are :class:`gitsync.errors.GitsyncError` subclasses. No printing,
no argument parsing: that is the edges' job.

One writer per folder: an operation that writes a folder (:mod:`gitsync.operations`) runs
here only while this process holds the folder's owner lock (:mod:`gitsync.owner`). When a
running daemon owns the folder, the request goes over the local channel to the daemon and
that folder's worker runs it; reads (status, log, show, conflicts) never need either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitsync import channel
from gitsync import folders as folder_registry
from gitsync import resolve as resolve_mod
from gitsync.config import Config, FolderConfig, Paths, folder_key, load_config
from gitsync.conflicts import ConflictRecord
from gitsync.daemon_lock import running_daemon_pid
from gitsync.diffs import render_diff
from gitsync.errors import FolderError, GitsyncError, PathError, RevisionError
from gitsync.folderstate import read_state
from gitsync.ignore import IgnoreRules
from gitsync.model import CommitInfo, FileChange, FolderStatus, SkippedFile
from gitsync.operations import OPERATIONS, RoundReport
from gitsync.owner import FolderOwner
from gitsync.repo import Repo
from gitsync.restore import default_restore_rev
from gitsync.revspec import parse_time
from gitsync.round import FolderParts
from gitsync.sync import SyncOutcome
from gitsync.waiting import WaitingFiles
from gitsync.worktree import WorktreeUpdater

logger = logging.getLogger(__name__)

OWNER_WAIT_S = 60.0  # how long a write waits for another CLI command on the same folder


class FolderBusyError(FolderError):
    """Another gitsync process kept writing the folder for longer than we waited."""


@dataclass(frozen=True)
class SyncReport:
    folder: FolderConfig
    committed: CommitInfo | None
    outcome: SyncOutcome
    open_conflicts: list[ConflictRecord]


@dataclass
class Service:
    paths: Paths

    @classmethod
    def default(cls) -> Service:
        return cls(Paths.discover())

    def config(self) -> Config:
        return load_config(self.paths)

    # --------------------------------------------------------------- folders
    def init(self, dir_arg: str, *, remote: str | None = None, device: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> FolderConfig:
        return folder_registry.register(self.paths, dir_arg, remote=remote, device=device,
                                        progress=progress)

    def forget(self, dir_arg: str) -> FolderConfig:
        return folder_registry.unregister(self.paths, dir_arg)

    def folders(self) -> list[FolderConfig]:
        return folder_registry.folder_for(self.config(), None)

    def _repo(self, fc: FolderConfig) -> Repo:
        if not fc.path.is_dir():
            raise FolderError(f"synced folder {fc.path} is missing", path=str(fc.path),
                              hint=f"restore it, or run 'gitsync forget {fc.path}'")
        return Repo(fc.path)

    def _wanted(self, config: Config, fc: FolderConfig, repo: Repo) -> Callable[[str], bool]:
        from gitsync.committer import Committer

        s = config.effective(fc)
        return Committer(repo, fc.device, size_limit=int(s["size_limit"]),
                         ignore=IgnoreRules(s["ignore"])).wanted

    # --------------------------------------------------------------- writes
    def _write(self, fc: FolderConfig, op_name: str, **args: Any) -> Any:
        """Run a write operation as the folder's one writer (see the module's docstring)."""
        op = OPERATIONS[op_name]
        owner = FolderOwner(self._repo(fc).gitdir)
        deadline = time.monotonic() + OWNER_WAIT_S
        while True:
            if owner.try_acquire():
                try:
                    parts = FolderParts.build(fc, self.config().effective(fc))
                    result = op.run(parts, **args)
                    if op_name in ("restore", "resolve"):
                        self._share(parts)
                    return result
                finally:
                    owner.release()
            if running_daemon_pid(self.paths) is not None:
                try:
                    return op.decode(channel.call(self.paths.socket_file, {
                        "op": op_name, "folder": str(fc.path), "args": args}))
                except channel.RemoteFailure as e:
                    if e.kind != "NotServed":
                        raise
            if time.monotonic() > deadline:
                raise FolderBusyError(
                    f"another gitsync process (pid {owner.holder_pid()}) has been writing "
                    f"{fc.path} for over {OWNER_WAIT_S:.0f} s", path=str(fc.path),
                    hint="try again when it is done")
            time.sleep(0.05)

    def _share(self, parts: FolderParts) -> None:
        """Push a local commit now if the remote is reachable; the daemon retries if not."""
        try:
            parts.syncer.sync(parts.committer)
        except GitsyncError as e:
            logger.warning("not synced yet: %s (the daemon will retry)", e)

    # --------------------------------------------------------------- status
    def status(self, dir_arg: str | None = None) -> list[FolderStatus]:
        config = self.config()
        daemon = running_daemon_pid(self.paths)
        out = []
        for fc in folder_registry.folder_for(config, dir_arg):
            out.append(self._status_one(config, fc, daemon))
        return out

    def _status_one(self, config: Config, fc: FolderConfig, daemon: int | None) -> FolderStatus:
        saved = read_state(self.paths.folder_state_file(folder_key(fc.path))) or {}
        live = daemon is not None and saved.get("pid") == daemon
        base: dict[str, Any] = dict(path=str(fc.path), device=fc.device, remote=fc.remote,
                                    branch=fc.branch, daemon_running=daemon is not None)
        if not fc.path.is_dir():
            return FolderStatus(**base, state="error", state_reason="folder is missing",
                                last_commit=None, pending=(),
                                last_error=f"{fc.path} does not exist")
        repo = Repo(fc.path)
        wanted = self._wanted(config, fc, repo)
        pending = tuple(p for p in repo.changed_paths() if wanted(p))
        reason = repo.pause_reason()
        limit = int(config.effective(fc)["size_limit"])
        skipped = {p: r for p, r in saved.get("skipped", {}).items()} if live else {}
        for p in pending:
            try:
                size = (fc.path / p).lstat().st_size
            except OSError:
                continue
            if size > limit:
                skipped[p] = f"too large ({size} bytes > limit {limit})"
        if live:
            for p, why in saved.get("retrying", {}).items():
                skipped.setdefault(p, why)
        if reason:
            state = "paused"
        elif live:
            state = "offline" if saved.get("offline_since") else str(saved.get("state", "idle"))
        else:
            state = "stopped"
        extra: dict[str, object] = {}
        if live and saved.get("offline_since"):
            extra["offline_since"] = saved["offline_since"]
        extra["waiting"] = WaitingFiles(repo, WorktreeUpdater(repo), branch=fc.branch,
                                        device=fc.device).reasons()
        extra["conflicts"] = len(resolve_mod.list_conflicts(repo))
        if live and saved.get("sync_stopped"):
            extra["sync_stopped"] = saved["sync_stopped"]
        return FolderStatus(
            **base,
            state=state,
            state_reason=reason or (saved.get("reason") if live else
                                    "the daemon is not running ('gitsync run' starts it)"),
            last_commit=repo.head_commit(),
            pending=pending,
            skipped=tuple(SkippedFile(p, r) for p, r in sorted(skipped.items())),
            last_error=saved.get("last_error") if live else None,
            ahead=repo.count_unpushed(f"refs/remotes/origin/{fc.branch}"),
            extra=extra,
        )

    # --------------------------------------------------------------- history
    def log(self, path_arg: str | None = None, *, folder_arg: str | None = None,
            limit: int | None = None) -> tuple[FolderConfig, str | None, Iterator[CommitInfo]]:
        config = self.config()
        if path_arg is None:
            fc = folder_registry.folder_for(config, folder_arg or str(Path.cwd()))[0] \
                if folder_arg or folder_registry.find_folder(config, Path.cwd()) else None
            if fc is None:
                folders = folder_registry.folder_for(config, None)
                if len(folders) != 1:
                    raise FolderError("which folder? run this inside a synced folder",
                                      hint="or pass --folder DIR")
                fc = folders[0]
            return fc, None, self._repo(fc).log(None, limit)
        fc, rel = folder_registry.resolve_path(config, path_arg, folder_arg)
        return fc, rel, self._repo(fc).log(rel, limit)

    def patch(self, fc: FolderConfig, commit: CommitInfo, change: FileChange) -> str:
        """What CHANGE of COMMIT did to its file, as text (see gitsync.diffs)."""
        repo = self._repo(fc)
        parent = commit.parents[0] if commit.parents else None

        def version(rev: str | None, path: str | None) -> bytes | None:
            if rev is None or path is None:
                return None
            try:
                return repo.read_file(rev, path)[0]
            except PathError:
                return None

        old = version(parent, change.old_path or change.path)
        new = version(commit.id, change.path)
        return render_diff(change.path, old, new)

    def resolve_rev(self, repo: Repo, rev: str, *, now: float | None = None) -> str:
        when = parse_time(rev, time.time() if now is None else now)
        if when is not None:
            found = repo.commit_before(when)
            if found is None:
                raise RevisionError(f"there is no version from {rev} or earlier", rev=rev,
                                    hint="see 'gitsync log' for the oldest one")
            return found
        return repo.resolve(rev)

    def show(self, path_arg: str, rev: str | None = None, *, folder_arg: str | None = None
             ) -> bytes:
        fc, rel = folder_registry.resolve_path(self.config(), path_arg, folder_arg)
        repo = self._repo(fc)
        if repo.head_id() is None:
            raise PathError(f"{rel} has no history yet", path=rel)
        commit = self.resolve_rev(repo, rev) if rev else repo.head_id()
        assert commit is not None
        data, _mode = repo.read_file(commit, rel)
        return data

    def restore(self, path_arg: str, rev: str | None = None, *,
                folder_arg: str | None = None) -> CommitInfo | None:
        """Bring back a version of a file as a new commit; history is never rewritten.

        Without REV: the version before the file's latest change, or, if the file is gone
        from disk or from the latest commit, its last version that existed.
        """
        config = self.config()
        fc, rel = folder_registry.resolve_path(config, path_arg, folder_arg)
        repo = self._repo(fc)
        commit = self.resolve_rev(repo, rev) if rev else default_restore_rev(repo, rel)
        repo.read_file(commit, rel)  # a clear error before anything is asked of the owner
        result: CommitInfo | None = self._write(fc, "restore", path=rel, commit=commit)
        return result

    # --------------------------------------------------------------- sync
    def sync(self, dir_arg: str | None = None) -> list[SyncReport]:
        """One round, now, for one or every folder: commit what is pending, fetch, merge,
        push. Raises the first folder's error after trying every folder."""
        config = self.config()
        results = []
        errors: list[GitsyncError] = []
        for fc in folder_registry.folder_for(config, dir_arg):
            try:
                report: RoundReport = self._write(fc, "sync")
                results.append(SyncReport(fc, report.committed, report.outcome,
                                          report.open_conflicts))
            except GitsyncError as e:
                if dir_arg is not None:
                    raise
                errors.append(e)
        if errors:
            raise errors[0]
        return results

    # --------------------------------------------------------------- conflicts
    def conflicts(self, dir_arg: str | None = None
                  ) -> list[tuple[FolderConfig, list[ConflictRecord]]]:
        config = self.config()
        return [(fc, resolve_mod.list_conflicts(self._repo(fc)))
                for fc in folder_registry.folder_for(config, dir_arg)]

    def resolve(self, path_arg: str, choice: str, *, with_file: str | None = None,
                folder_arg: str | None = None) -> resolve_mod.Resolution:
        fc, rel = folder_registry.resolve_path(self.config(), path_arg, folder_arg)
        resolve_mod.find_conflict(self._repo(fc), rel)  # a clear error first
        with_path = str(Path(with_file).absolute()) if with_file else None
        res: resolve_mod.Resolution = self._write(fc, "resolve", path=rel, choice=choice,
                                                  with_file=with_path)
        return res

    def clone(self, url: str, dir_arg: str, *, device: str | None = None,
              progress: Callable[[str, int, int], None] | None = None
              ) -> tuple[FolderConfig, list[ConflictRecord]]:
        fc, records = folder_registry.clone_folder(self.paths, url, dir_arg, device=device,
                                                   progress=progress)
        try:
            outcome: SyncOutcome = self._write(fc, "push")
            del outcome
        except GitsyncError as e:
            logger.warning("not synced yet: %s (the daemon will retry)", e)
        return fc, records
