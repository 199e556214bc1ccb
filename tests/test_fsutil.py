"""Small filesystem helpers that the worker relies on for durability and permissions."""

from __future__ import annotations

import os
import sys

import pytest

from gitsync import fsutil


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_the_umask_is_read_without_being_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Setting it, even for a moment, would hand another thread's new files that mask.
    old = os.umask(0o027)
    try:
        def refuse(mask: int) -> int:
            raise AssertionError("os.umask called")
        monkeypatch.setattr(os, "umask", refuse)
        assert fsutil.umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)
