"""The network suite's own tools: the proxy really cuts after N bytes in the direction it
was told and refuses while offline, the hub really becomes unreadable and comes back, and
what was in flight at a cut is read correctly from a daemon's debug log."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.reliability.network import CutProxy, HubHider, in_flight


class Server:
    """A TCP server on 127.0.0.1 that records what it receives and can send on demand."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.conns: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        self.conns.append(conn)
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed.set()
                return
            self.received += data

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def proxy(server: Server) -> Iterator[CutProxy]:
    p = CutProxy(server.port)
    p.start()
    yield p
    p.close()


def read_all(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything until the connection ends; True if it ended with a reset."""
    got = bytearray()
    sock.settimeout(10)
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return bytes(got), True
        if not data:
            return bytes(got), False
        got += data


def test_passes_everything_when_not_armed(server: Server, proxy: CutProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port)) as c:
        c.sendall(b"x" * 200_000)
        assert wait_for(lambda: len(server.received) == 200_000, 10)
        assert wait_for(lambda: bool(server.conns), 5)
        server.conns[0].sendall(b"y" * 100_000)
        got = b""
        while len(got) < 100_000:
            got += c.recv(65536)
    assert proxy.cuts == 0


def test_cuts_after_n_bytes_upstream(server: Server, proxy: CutProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port)) as c:
        c.sendall(b"hello")
        assert wait_for(lambda: len(server.received) == 5, 10)
        proxy.arm(3000, upstream=True)  # counted from now
        c.sendall(b"x" * 10_000)
        assert server.closed.wait(10)
        _, reset = read_all(c)
    assert bytes(server.received) == b"hello" + b"x" * 3000
    assert reset
    assert proxy.cuts == 1


def test_cuts_after_n_bytes_downstream(server: Server, proxy: CutProxy) -> None:
    proxy.arm(5000, upstream=False)
    with socket.create_connection(("127.0.0.1", proxy.port)) as c:
        c.sendall(b"x" * 20_000)  # the other direction does not count
        assert wait_for(lambda: len(server.received) == 20_000, 10)
        server.conns[0].sendall(b"y" * 50_000)
        got, reset = read_all(c)
    assert got == b"y" * 5000
    assert reset
    assert proxy.cuts == 1


def test_offline_cuts_open_connections_and_refuses_new_ones(server: Server,
                                                            proxy: CutProxy) -> None:
    c = socket.create_connection(("127.0.0.1", proxy.port))
    c.sendall(b"a")
    assert wait_for(lambda: server.received == b"a", 10)
    assert proxy.offline() == 1
    _, reset = read_all(c)
    c.close()
    assert reset
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    proxy.online()  # the same port again
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5):
        pass
    assert proxy.severed == 1 and proxy.cuts == 0


def test_a_dead_target_resets_the_client_at_once() -> None:
    port = socket.create_server(("127.0.0.1", 0))
    dead = port.getsockname()[1]
    port.close()
    p = CutProxy(dead)
    p.start()
    try:
        try:
            with socket.create_connection(("127.0.0.1", p.port), timeout=5) as c:
                got, reset = read_all(c)
        except ConnectionResetError:  # on a loaded machine the reset can beat connect()
            got, reset = b"", True
        assert got == b"" and reset
        assert wait_for(lambda: p.refused_upstream == 1, 5), p.refused_upstream
    finally:
        p.close()


def test_the_hub_is_unreadable_while_hidden_and_whole_after(tmp_path: Path) -> None:
    hub = tmp_path / "hub.git"
    subprocess.run(["git", "init", "-q", "--bare", str(hub)], check=True)

    def readable() -> bool:
        return subprocess.run(["git", "--git-dir", str(hub), "rev-parse", "--git-dir"],
                              capture_output=True).returncode == 0

    hider = HubHider(hub)
    hider.hide()
    try:
        assert hider.how in ("bind mount", "rename")
        assert not readable()
    finally:
        hider.restore()
    assert readable()
    assert not hider.hidden


LOG = """\
20:01:00 git fetch box:/hub.git
20:01:00 git fetch box:/hub.git: exit 0 after 0.2 s
20:01:01 live updates from box connected
20:01:02 git push box:/hub.git
20:01:02 git push box:/hub.git: exit 0 after 0.1 s
20:01:03 git fetch box:/hub.git
"""


def test_in_flight_reads_what_ran_at_a_moment() -> None:
    assert in_flight(LOG) == {"fetch", "stream"}
    assert in_flight(LOG + "20:01:03 git fetch box:/hub.git: exit 128 after 0.1 s\n"
                     "20:01:03 live updates from box interrupted (ssh failed); polling\n"
                     ) == set()
    head = LOG.splitlines(keepends=True)[:4]
    assert in_flight("".join(head)) == {"push", "stream"}
