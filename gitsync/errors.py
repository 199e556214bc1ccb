"""One exception hierarchy for gitsync.

Every error a user can cause or meet derives from :class:`GitsyncError`. The CLI and the
web server turn these into one-line messages (and exit codes / HTTP statuses) at the edge;
anything else that escapes is a bug and is shown as such.

Subclasses carry data (path, revision, folder) as attributes so edges can render them, and
messages say what to do next. ``exit_code`` follows the CLI convention: 2 for bad input,
3 for a runtime failure.
"""

from __future__ import annotations


class GitsyncError(Exception):
    """Base of every error gitsync raises on purpose."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}: {self.hint}"
        return self.message


class UserError(GitsyncError):
    """Bad input: a wrong argument, an unknown folder, path or revision (exit 2)."""

    exit_code = 2


class ConfigError(UserError):
    """The config file is unreadable or holds invalid values."""


class FolderError(UserError):
    """A folder argument that cannot be used (missing, unwritable, nested, unknown)."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class RevisionError(UserError):
    """A revision that does not name a commit of the folder."""

    def __init__(self, message: str, *, rev: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rev = rev


class PathError(UserError):
    """A path that is not in the folder or not in the requested version."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class NotFoundError(GitsyncError):
    """No such folder, file (at that version) or conflict: the thing asked for is not there.

    A base the web server maps to 404; the classes below also derive from the input error
    they refine, so ``except PathError`` and the CLI's messages keep working.
    """

    exit_code = 2


class UnknownFolderError(FolderError, NotFoundError):
    """A folder id that names no synced folder."""


class MissingPathError(PathError, NotFoundError):
    """A path that is not in the requested version (or not on disk)."""


class UnknownConflictError(UserError, NotFoundError):
    """A conflict id that names no open conflict of the folder."""


class RuntimeFailure(GitsyncError):
    """Something outside the user's input failed (disk, remote, git); exit 3."""

    exit_code = 3


class RepoError(RuntimeFailure):
    """A git operation on a folder's repository failed."""


class LockedError(RepoError):
    """A live process holds a git lock file; the write will be retried."""

    def __init__(self, message: str, *, lock_path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.lock_path = lock_path


class RemoteError(RuntimeFailure):
    """The remote could not be reached or refused a transfer."""


class HistoryDivergedError(RuntimeFailure):
    """The remote's history is unrelated to or rewrote ours; syncing that folder stops."""


class MergeError(GitsyncError):
    """A merger could not merge its inputs (bad or hostile file, over limits).

    The engine falls back to keeping ours and writing theirs as a conflict copy.
    """

    exit_code = 3
