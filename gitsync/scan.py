"""A folder's changes as git's index stat cache sees them: one ``git status`` process.

Apart from :mod:`gitsync.repo` so the daemon can start a folder's scan before pygit2 and
the rest of gitsync are imported (see :class:`gitsync.daemon.EarlyStart`): the scan then
runs beside the imports instead of after them.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitsync.gitproc import run_git


def changed_paths(workdir: Path) -> list[str]:
    """Every path whose working copy differs from HEAD (modified, new, deleted).

    ``--no-optional-locks`` (run_git adds it) keeps git from taking the index lock from
    under the user; untracked files are listed one by one, ignored ones not at all.
    """
    out = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"],
                  cwd=workdir, check=True).stdout
    return [os.fsdecode(rec[3:]) for rec in out.split(b"\0") if len(rec) > 3]
