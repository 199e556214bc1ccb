"""Moving commits between a folder and its remote.

This module holds the fast-forward push every commit is followed by. Network transfer goes
through :mod:`gitsync.transport` (the system ``git``, so SSH behaves exactly as it does for
git itself). Nothing here ever force-pushes.
"""

from __future__ import annotations

import logging

from gitsync.errors import RemoteError
from gitsync.repo import Repo
from gitsync.transport import PushRejected, Transport

logger = logging.getLogger(__name__)

REMOTE = "origin"


class Syncer:
    def __init__(self, repo: Repo, remote_url: str, branch: str,
                 transport: Transport | None = None) -> None:
        self.repo = repo
        self.remote_url = remote_url
        self.branch = branch
        self.transport = transport or Transport(repo.workdir)

    @property
    def tracking_ref(self) -> str:
        return f"refs/remotes/{REMOTE}/{self.branch}"

    def push(self) -> str | None:
        """Push HEAD if the remote does not have it yet; returns the pushed commit id."""
        head = self.repo.head_id()
        if head is None:
            return None
        known = self.repo.raw.references.get(self.tracking_ref)
        known_id = str(known.target) if known is not None else None
        if known_id == head:
            return None
        try:
            self.transport.push(REMOTE, head, f"refs/heads/{self.branch}", expect=known_id)
        except PushRejected as e:
            raise RemoteError(
                f"the remote {self.remote_url} has commits this device does not have yet",
                hint="they are merged by the sync engine; run 'gitsync sync'",
            ) from e
        # git updates the tracking ref itself when pushing to a named remote; set it only if not.
        now_ref = self.repo.raw.references.get(self.tracking_ref)
        now_id = str(now_ref.target) if now_ref is not None else None
        if now_id != head:
            self.repo.update_ref(self.tracking_ref, head, now_id)
        return head
