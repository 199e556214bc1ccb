"""What the CLI (and later the web server and the notifier) call.

Each function takes plain arguments, does one user-level operation, and returns gitsync's
own dataclasses; errors are :class:`gitsync.errors.GitsyncError` subclasses. No printing,
no argument parsing: that is the edges' job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gitsync import folders as folder_registry
from gitsync import resolve as resolve_mod
from gitsync.committer import Committer
from gitsync.config import Config, FolderConfig, Paths, folder_key, load_config
from gitsync.conflicts import ConflictRecord
from gitsync.daemon_lock import running_daemon_pid
from gitsync.errors import FolderError, GitsyncError, PathError, RevisionError
from gitsync.ignore import IgnoreRules
from gitsync.model import CommitInfo, FileChange, FolderStatus, SkippedFile
from gitsync.patch import render_patch
from gitsync.repo import DEVICE_TRAILER, Repo
from gitsync.revspec import parse_time
from gitsync.sync import Syncer, SyncOutcome
from gitsync.worker import read_state
from gitsync.worktree import WorktreeUpdater

logger = logging.getLogger(__name__)


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

    def _committer(self, config: Config, fc: FolderConfig, repo: Repo) -> Committer:
        s = config.effective(fc)
        return Committer(repo, fc.device, size_limit=int(s["size_limit"]),
                         ignore=IgnoreRules(s["ignore"]))

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
        committer = self._committer(config, fc, repo)
        pending = tuple(p for p in repo.changed_paths() if committer.wanted(p))
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
        extra["waiting"] = {p: w.get("why", "") for p, w in
                            self._syncer(repo, fc).load_waiting().items()}
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
        """What CHANGE of COMMIT did to its file, as text (see gitsync.patch)."""
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
        return render_patch(change.path, old, new)

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
        commit = (self.resolve_rev(repo, rev) if rev
                  else self._default_restore_rev(repo, fc, rel))
        repo.read_file(commit, rel)  # a clear error when it is not there
        WorktreeUpdater(repo).write_one(rel, repo.entry_at(commit, rel))
        committer = self._committer(config, fc, repo)
        when = datetime.fromtimestamp(repo.commit_info(commit, with_changes=False).time)
        msg = (f"{fc.device}: restored {rel} from {when:%Y-%m-%d %H:%M} ({commit[:10]})\n\n"
               f"{DEVICE_TRAILER}: {fc.device}\n")
        outcome = repo.commit_paths([rel], device=fc.device, size_limit=committer.size_limit,
                                    message_for=lambda _c: msg)
        if outcome.commit:
            self._try_push(repo, fc)
        return outcome.commit

    def _default_restore_rev(self, repo: Repo, fc: FolderConfig, rel: str) -> str:
        history = list(repo.log(rel, 2))
        if not history:
            raise PathError(f"{rel} has no history in {fc.path}", path=rel,
                            hint="check the name with 'gitsync log'")
        latest = history[0]
        gone_now = not (fc.path / rel).exists() and not (fc.path / rel).is_symlink()
        from gitsync.model import ChangeKind

        if latest.changes and latest.changes[0].kind == ChangeKind.DELETED:
            return latest.parents[0]  # its last version before the delete
        if gone_now:
            return latest.id
        if len(history) < 2 and latest.changes and latest.changes[0].kind == ChangeKind.ADDED:
            raise RevisionError(f"{rel} has only one version", rev="",
                                hint="nothing older to restore")
        return latest.parents[0]

    # --------------------------------------------------------------- sync
    def _syncer(self, repo: Repo, fc: FolderConfig) -> Syncer:
        return Syncer(repo, fc.remote, fc.branch, device=fc.device)

    def sync(self, dir_arg: str | None = None) -> list[SyncReport]:
        """One round, now, for one or every folder: commit what is pending, fetch, merge,
        push. Raises the first folder's error after trying every folder."""
        config = self.config()
        results = []
        errors: list[GitsyncError] = []
        for fc in folder_registry.folder_for(config, dir_arg):
            try:
                repo = self._repo(fc)
                reason = repo.pause_reason()
                if reason:
                    raise FolderError(f"{fc.path} is paused: {reason}", path=str(fc.path))
                repo.clear_stale_locks()
                committer = self._committer(config, fc, repo)
                syncer = self._syncer(repo, fc)
                absorbed = set(syncer.absorb_waiting_edits())
                pending = [p for p in repo.changed_paths()
                           if committer.wanted(p) and p not in absorbed]
                held = syncer.held_paths(pending)
                batch = committer.commit([p for p in pending if p not in held],
                                         whole_tree=not held)
                _written, still = syncer.retry_waiting()
                outcome = syncer.sync(_committing(committer))
                outcome.waiting = {**still, **outcome.waiting}
                results.append(SyncReport(fc, batch.commit, outcome,
                                          resolve_mod.list_conflicts(repo)))
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
        repo = self._repo(fc)
        res = resolve_mod.resolve(repo, rel, device=fc.device, choice=choice,
                                  with_file=Path(with_file) if with_file else None)
        self._try_push(repo, fc)
        return res

    def clone(self, url: str, dir_arg: str, *, device: str | None = None,
              progress: Callable[[str, int, int], None] | None = None
              ) -> tuple[FolderConfig, list[ConflictRecord]]:
        fc, records = folder_registry.clone_folder(self.paths, url, dir_arg, device=device,
                                                   progress=progress)
        self._try_push(self._repo(fc), fc)
        return fc, records

    def _try_push(self, repo: Repo, fc: FolderConfig) -> None:
        """Share a local commit now if the remote is reachable; the daemon retries if not."""
        try:
            self._syncer(repo, fc).sync(lambda _p: None)
        except GitsyncError as e:
            logger.warning("not synced yet: %s (the daemon will retry)", e)


def _committing(committer: Committer) -> Callable[[list[str]], None]:
    def commit(paths: list[str]) -> None:
        committer.commit(paths)

    return commit
