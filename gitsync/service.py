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

import base64
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitsync import channel
from gitsync import folders as folder_registry
from gitsync import history as history_mod
from gitsync import resolve as resolve_mod
from gitsync.config import Config, FolderConfig, Paths, folder_key, load_config
from gitsync.conflicts import ConflictRecord
from gitsync.daemon_lock import running_daemon_pid
from gitsync.diffs import diff_data, render_diff
from gitsync.errors import (
    FolderError,
    GitsyncError,
    MissingPathError,
    PathError,
    RevisionError,
    UnknownConflictError,
    UnknownFolderError,
)
from gitsync.folderstate import USER_PAUSE_REASON, is_paused, read_state
from gitsync.ignore import IgnoreRules
from gitsync.model import CommitInfo, DeletedFile, FileChange, FolderStatus, SkippedFile, TreeEntry
from gitsync.operations import OPERATIONS, RoundReport
from gitsync.owner import FolderOwner
from gitsync.preview import preview as render_preview
from gitsync.repo import Repo
from gitsync.restore import default_restore_rev
from gitsync.revspec import parse_time
from gitsync.round import FolderParts
from gitsync.safepath import check_user_path
from gitsync.sync import SyncOutcome
from gitsync.upkeep import history_size
from gitsync.waiting import WaitingFiles
from gitsync.worktree import WorktreeUpdater

logger = logging.getLogger(__name__)

OWNER_WAIT_S = 60.0  # how long a write waits for another CLI command on the same folder
SUMMARY_CHANGES = 20  # changes of the last commit a status lists (a bulk commit has 100,000)


class FolderBusyError(FolderError):
    """Another gitsync process kept writing the folder for longer than we waited."""


@dataclass(frozen=True)
class SyncReport:
    folder: FolderConfig
    committed: CommitInfo | None
    outcome: SyncOutcome
    open_conflicts: list[ConflictRecord]


Writer = Callable[[dict[str, Any]], Any]
_CONFLICT_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Service:
    paths: Paths
    #: Set inside the daemon process: a write request ({"op", "folder", "args"}) goes
    #: straight to the folder's worker (Daemon.handle_request) and its encoded result back.
    writer: Writer | None = None

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
        if self.writer is not None:
            return op.decode(self.writer({"op": op_name, "folder": str(fc.path),
                                          "args": args}))
        owner = FolderOwner(self._repo(fc).gitdir)
        deadline = time.monotonic() + OWNER_WAIT_S
        while True:
            if owner.try_acquire():
                try:
                    parts = FolderParts.build(fc, self.config().effective(fc))
                    parts.state_file = self._state_file(fc)
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

    def _state_file(self, fc: FolderConfig) -> Path:
        return self.paths.folder_state_file(folder_key(fc.path))

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

    def _status_one(self, config: Config, fc: FolderConfig, daemon: int | None, *,
                    quick: bool = False) -> FolderStatus:
        """QUICK (the dashboard, asked often): while the daemon runs, the pending saves are
        the ones its worker reported, instead of a scan of the folder (``git status`` takes
        a fifth of a second on 100,000 files)."""
        saved = read_state(self.paths.folder_state_file(folder_key(fc.path))) or {}
        live = daemon is not None and saved.get("pid") == daemon
        base: dict[str, Any] = dict(path=str(fc.path), device=fc.device, remote=fc.remote,
                                    branch=fc.branch, daemon_running=daemon is not None)
        if not fc.path.is_dir():
            return FolderStatus(**base, state="error", state_reason="folder is missing",
                                last_commit=None, pending=(),
                                last_error=f"{fc.path} does not exist")
        repo = Repo(fc.path)
        reason = repo.pause_reason()
        user_paused = is_paused(self._state_file(fc))
        if reason is None and user_paused:
            reason = USER_PAUSE_REASON
        # A paused worker does not report the saves it holds back: scan then.
        if quick and live and reason is None and isinstance(saved.get("pending"), list):
            pending = tuple(str(p) for p in saved["pending"])
        else:
            wanted = self._wanted(config, fc, repo)
            pending = tuple(p for p in repo.changed_paths() if wanted(p))
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
        extra: dict[str, object] = {"paused": user_paused}
        if live and saved.get("offline_since"):
            extra["offline_since"] = saved["offline_since"]
        extra["waiting"] = WaitingFiles(repo, WorktreeUpdater(repo), branch=fc.branch,
                                        device=fc.device).reasons()
        extra["conflicts"] = len(resolve_mod.list_conflicts(repo))
        if live and saved.get("sync_stopped"):
            extra["sync_stopped"] = saved["sync_stopped"]
        if not quick:  # the dashboard asks often and does not show it
            extra["history"] = self._history(fc, repo)
        return FolderStatus(
            **base,
            state=state,
            state_reason=reason or (_live_reason(saved) if live else
                                    "the daemon is not running ('gitsync run' starts it)"),
            last_commit=repo.head_commit(max_changes=SUMMARY_CHANGES),
            pending=pending,
            skipped=tuple(SkippedFile(p, r) for p, r in sorted(skipped.items())),
            last_error=saved.get("last_error") if live else None,
            ahead=repo.count_unpushed(f"refs/remotes/origin/{fc.branch}"),
            extra=extra,
        )

    def _history(self, fc: FolderConfig, repo: Repo) -> dict[str, int] | None:
        """How big history is; the count of versions is cached beside the state file."""
        try:
            return history_size(repo.workdir, repo.gitdir, repo.head_id(),
                                self._state_file(fc).with_suffix(".history")).to_json()
        except GitsyncError as e:
            logger.warning("%s: cannot measure history: %s", fc.path, e)
            return None

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

    # --------------------------------------------------------------- web: folders
    def folder_by_id(self, folder_id: str) -> FolderConfig:
        """The folder whose id (``config.folder_key`` of its path) is FOLDER_ID."""
        for fc in self.config().folders.values():
            if folder_key(fc.path) == folder_id:
                return fc
        raise UnknownFolderError(f"no synced folder has the id {folder_id!r}",
                                 path=str(folder_id), hint="see the list of folders")

    def folder_summaries(self) -> list[dict[str, Any]]:
        """One item per folder, as ``GET /api/folders`` lists them."""
        config = self.config()
        daemon = running_daemon_pid(self.paths)
        out: list[dict[str, Any]] = []
        for fc in folder_registry.folder_for(config, None):
            try:
                st = self._status_one(config, fc, daemon, quick=True)
            except GitsyncError as e:
                out.append({"id": folder_key(fc.path), "path": str(fc.path),
                            "device": fc.device, "remote": fc.remote, "state": "error",
                            "last_commit": None, "pending": 0, "conflicts": 0,
                            "last_error": str(e), "offline_since": None,
                            "paused": is_paused(self._state_file(fc)), "state_reason": str(e)})
                continue
            offline = st.extra.get("offline_since")
            conflicts = st.extra.get("conflicts", 0)
            out.append({
                "id": folder_key(fc.path), "path": st.path, "device": st.device,
                "remote": st.remote, "state": st.state,
                "last_commit": st.last_commit.to_json() if st.last_commit else None,
                "pending": len(st.pending),
                "conflicts": int(conflicts) if isinstance(conflicts, int) else 0,
                "last_error": st.last_error,
                "offline_since": float(offline) if isinstance(offline, int | float) else None,
                "paused": bool(st.extra.get("paused")), "state_reason": st.state_reason,
            })
        return out

    def _folder_repo(self, folder_id: str) -> tuple[FolderConfig, Repo]:
        fc = self.folder_by_id(folder_id)
        return fc, self._repo(fc)

    def _rev_or_head(self, repo: Repo, rev: str | None) -> str | None:
        if rev is None or rev == "" or rev.upper() == "HEAD":
            return repo.head_id()
        return self.resolve_rev(repo, rev)

    # --------------------------------------------------------------- web: reads
    def history(self, folder_id: str, path: str | None = None, limit: int = 50,
                cursor: str | None = None,
                max_changes: int | None = history_mod.FOLDER_HISTORY_CHANGES
                ) -> tuple[list[CommitInfo], str | None]:
        """Newest first, following renames; no PATH = the whole folder, listing at most
        MAX_CHANGES changes per commit."""
        fc, repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, path, allow_root=True) if path else None
        return history_mod.history(repo, rel or None, limit, cursor, max_changes)

    def tree(self, folder_id: str, rev: str | None = None, dir: str = ""
             ) -> tuple[str, list[TreeEntry]]:
        """(commit id, DIR's direct children at REV, directories first)."""
        fc, repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, dir or "", allow_root=True)
        commit = self._rev_or_head(repo, rev)
        if commit is None:
            if rel:
                raise MissingPathError(f"{rel} has no history yet", path=rel)
            return "", []
        if repo.kind_at(commit, rel) != "dir":
            raise MissingPathError(f"there is no folder {rel} in version {commit[:10]}",
                                   path=rel, hint="pick an earlier or later time")
        return commit, history_mod.tree(repo, commit, rel)

    def deleted(self, folder_id: str, since: str | None = None, *,
                now: float | None = None) -> list[DeletedFile]:
        """Files deleted since SINCE (a time like ``2d`` or a commit; None: 30 days) and
        still gone, newest first, each with the commit that deleted it."""
        _fc, repo = self._folder_repo(folder_id)
        now = time.time() if now is None else now
        when = now - history_mod.DELETED_WINDOW_S
        if since:
            parsed = parse_time(since, now)
            if parsed is not None:
                when = parsed
            else:
                when = float(repo.commit_info(repo.resolve(since), with_changes=False).time)
        return history_mod.deleted(repo, when)

    def file_at(self, folder_id: str, path: str, rev: str | None = None) -> bytes:
        fc, repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, path)
        commit = self._rev_or_head(repo, rev)
        if commit is None:
            raise MissingPathError(f"{rel} has no history yet", path=rel)
        return repo.read_file(commit, rel)[0]

    def on_disk(self, folder_id: str, path: str) -> bool:
        """Whether the file is on disk now (a stat, not a read: pages ask on every view)."""
        fc, _repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, path)
        return (fc.path / rel).is_file()

    def disk_file(self, folder_id: str, path: str) -> bytes | None:
        """The file on disk now; None when there is none."""
        fc, _repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, path)
        full = fc.path / rel
        try:
            if full.is_dir():
                raise PathError(f"{rel} is a folder, not a file", path=rel)
            return full.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise PathError(f"cannot read {rel}: {e.strerror}", path=rel) from e

    def diff(self, folder_id: str, path: str, from_rev: str | None = None,
             to_rev: str | None = None) -> dict[str, Any]:
        """What changed in PATH between two versions (see gitsync.diffs.diff_data). TO_REV
        None or "disk": the file on disk now; FROM_REV None: the version before TO_REV."""
        fc, repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, path)
        head = repo.head_id()
        to_id: str | None
        if to_rev is None or to_rev == "disk":
            to_id = None
            new = self.disk_file(folder_id, rel)
        else:
            to_id = self._rev_or_head(repo, to_rev)
            new = self._version(repo, to_id, rel)
        from_id: str | None
        if from_rev is not None and from_rev != "":
            from_id = self._rev_or_head(repo, from_rev)
            old = self._version(repo, from_id, rel)
        elif to_id is None:
            from_id = head
            old = self._version(repo, head, rel)
        else:
            from_id, old = self._previous_version(repo, to_id, rel)
        if old is None and new is None:
            raise MissingPathError(f"{rel} is in neither version", path=rel,
                                   hint="see the file's history for its versions")
        result = diff_data(rel, old, new)
        return {**result, "path": rel, "from": from_id,
                "to": to_id if to_id is not None else "disk"}

    def _version(self, repo: Repo, commit: str | None, rel: str) -> bytes | None:
        if commit is None:
            return None
        try:
            return repo.read_file(commit, rel)[0]
        except MissingPathError:
            return None

    def _previous_version(self, repo: Repo, commit: str, rel: str
                          ) -> tuple[str | None, bytes | None]:
        """The version of REL before the one COMMIT holds (following a rename back)."""
        page = repo.log_page(commit, rel, 1)
        if not page.commits:
            return None, None
        made = page.commits[0]
        if not made.parents:
            return None, None
        parent = made.parents[0]
        old_path = rel
        for ch in made.changes:
            if ch.path == rel and ch.old_path:
                old_path = ch.old_path
        return parent, self._version(repo, parent, old_path)

    def preview(self, folder_id: str, path: str, rev: str | None = None) -> dict[str, Any]:
        """A version of PATH as data a page can show (see gitsync.preview); rev "disk" is
        the file on disk now."""
        if rev == "disk":
            data = self.disk_file(folder_id, path)
            if data is None:
                raise MissingPathError(f"{path} is not on disk", path=path)
        else:
            data = self.file_at(folder_id, path, rev)
        return render_preview(path, data)

    # --------------------------------------------------------------- web: conflicts
    def conflict_list(self) -> list[tuple[FolderConfig, list[ConflictRecord]]]:
        """Open conflicts of every folder (a missing folder lists none)."""
        out = []
        for fc in self.folders():
            try:
                out.append((fc, resolve_mod.list_conflicts(self._repo(fc))))
            except GitsyncError as e:
                logger.warning("cannot list conflicts of %s: %s", fc.path, e)
                out.append((fc, []))
        return out

    def _conflict(self, repo: Repo, conflict_id: str) -> ConflictRecord:
        if isinstance(conflict_id, str) and _CONFLICT_ID.match(conflict_id):
            for rec in resolve_mod.list_conflicts(repo):
                if rec.id == conflict_id:
                    return rec
        raise UnknownConflictError(f"no open conflict has the id {conflict_id!r}",
                                   hint="it may have been resolved already")

    def conflict_detail(self, folder_id: str, conflict_id: str) -> dict[str, Any]:
        """The record plus the three versions' text and the segments to decide."""
        _fc, repo = self._folder_repo(folder_id)
        rec = self._conflict(repo, conflict_id)
        return resolve_mod.conflict_view(repo, rec)

    # --------------------------------------------------------------- web: writes
    def restore_path(self, folder_id: str, path: str, rev: str, exact: bool = False
                     ) -> CommitInfo | None:
        """PATH (a file, a directory, or "" for the whole folder) as it was at REV, as one
        new commit; files added since are kept unless EXACT. None: nothing differed."""
        fc, repo = self._folder_repo(folder_id)
        rel = check_user_path(fc.path, path or "", allow_root=True)
        if not rev:
            raise RevisionError("which version? give a commit id or a time", rev="")
        commit = self.resolve_rev(repo, rev)
        if repo.kind_at(commit, rel) is None:
            raise MissingPathError(f"{rel} does not exist in version {commit[:10]}", path=rel,
                                   hint="see its history for the versions it has")
        result: CommitInfo | None = self._write(fc, "restore", path=rel, commit=commit,
                                                exact=bool(exact))
        return result

    def resolve_conflict(self, folder_id: str, conflict_id: str, *, take: str | None = None,
                         hunks: list[dict[str, Any]] | None = None,
                         content: bytes | None = None) -> resolve_mod.Resolution:
        """Settle one conflict (see gitsync.resolve.settled_content) in one commit that
        syncs to every device."""
        fc, repo = self._folder_repo(folder_id)
        self._conflict(repo, conflict_id)  # a clear error before anything is asked
        args: dict[str, Any] = {"conflict_id": conflict_id}
        if take is not None:
            args["take"] = take
        if hunks is not None:
            args["hunks"] = hunks
        if content is not None:
            args["content_base64"] = base64.b64encode(content).decode("ascii")
        res: resolve_mod.Resolution = self._write(fc, "resolve", **args)
        return res

    def sync_folder(self, folder_id: str) -> RoundReport:
        fc = self.folder_by_id(folder_id)
        report: RoundReport = self._write(fc, "sync")
        return report

    def pause(self, folder_id: str) -> None:
        """Stop committing and syncing FOLDER until resumed (kept across restarts)."""
        self._write(self.folder_by_id(folder_id), "pause")

    def resume(self, folder_id: str) -> None:
        """Commit what was saved meanwhile and sync again."""
        self._write(self.folder_by_id(folder_id), "resume")


def _live_reason(saved: dict[str, Any]) -> str | None:
    polling = saved.get("polling_every")
    if isinstance(polling, int | float):
        return (f"polling every {polling:.0f} s: the system's limit on watched folders is "
                "reached (raise fs.inotify.max_user_watches)")
    reason = saved.get("reason")
    return str(reason) if reason is not None else None
