"""The daemon's local door: JSON requests over a Unix socket, errors passed on typed."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from gitsync.channel import ChannelError, ChannelServer, RemoteFailure, call
from gitsync.errors import PathError


def _handler(request: dict[str, Any]) -> dict[str, Any]:
    if request["op"] == "boom":
        raise PathError("notes.txt is not in the folder", path="notes.txt")
    if request["op"] == "bug":
        raise KeyError("a bug")
    return {"echo": request["args"]}


@pytest.mark.parametrize("deep", [False, True])
def test_request_and_answer(tmp_path: Path, deep: bool) -> None:
    where = tmp_path
    if deep:  # longer than a Unix socket address can hold
        where = tmp_path / ("x" * 60) / ("y" * 60)
        where.mkdir(parents=True)
    sock = where / "daemon.sock"
    server = ChannelServer(sock, _handler)
    server.start()
    try:
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert call(sock, {"op": "echo", "args": {"a": [1, "é"]}}) == {"echo": {"a": [1, "é"]}}
        with pytest.raises(RemoteFailure) as e:
            call(sock, {"op": "boom", "args": {}})
        assert e.value.exit_code == 2 and e.value.kind == "PathError"
        assert "notes.txt is not in the folder" in str(e.value)
        with pytest.raises(RemoteFailure) as e:
            call(sock, {"op": "bug", "args": {}})
        assert e.value.exit_code == 3 and "internal error" in str(e.value)
    finally:
        server.stop()
    assert not sock.exists()


def test_no_daemon_listening_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChannelError) as e:
        call(tmp_path / "daemon.sock", {"op": "sync"})
    assert "cannot reach the running daemon" in str(e.value)
