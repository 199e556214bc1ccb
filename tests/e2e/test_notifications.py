"""Desktop notifications from a real `gitsync run`, on a real session bus started by the test,
to a notification server stub that records every Notify call it receives."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from gitsync.config import Paths, folder_key, load_config, save_config
from tests.helpers import daemon, run_proc, two_devices, wait_for

SERVICE = "org.freedesktop.Notifications"
PORT = "18484"  # only written into links: the daemon runs --no-web


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[str]:
    """A private session-type dbus-daemon for this test; its address. Its own config rather
    than ``--session``'s, so no notification service installed on the machine can be
    activated on it behind the stub's back."""
    exe = shutil.which("dbus-daemon")
    assert exe, "dbus-daemon is missing (apt-get install dbus)"
    config = tmp_path / "bus.conf"
    config.write_text(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
        "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig><type>session</type>"
        f"<listen>unix:dir={tmp_path}</listen>"
        "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
        "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n")
    proc = subprocess.Popen([exe, f"--config-file={config}", "--print-address", "--nofork"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("unix:"), address
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


class NotificationStub:
    """Owns org.freedesktop.Notifications on the bus and records each Notify's arguments."""

    def __init__(self, address: str) -> None:
        self.conn = open_dbus_connection(bus=address)
        reply = self.conn.send_and_get_reply(message_bus.RequestName(SERVICE), timeout=5)
        assert reply.body == (1,), reply.body  # primary owner
        self.calls: list[tuple[Any, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="notification-stub")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            h = msg.header
            if h.message_type != MessageType.method_call:
                continue
            if h.fields.get(3) == "Notify":  # 3: the member header field
                self.calls.append(msg.body)
                self.conn.send(new_method_return(msg, "u", (len(self.calls),)))

    def summaries(self) -> list[str]:
        return [c[3] for c in self.calls]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


@pytest.fixture
def stub(session_bus: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotificationStub]:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)  # the daemons inherit it
    s = NotificationStub(session_bus)
    try:
        yield s
    finally:
        s.close()


def conflicting_devices(tmp_path: Path, names: list[str]) -> Path:
    """A and B edit the same line of each file; B's edits are on the hub, A's wait on disk
    for A's daemon. Returns A."""
    a, b, _hub, home_b = two_devices(tmp_path, {n: "first line\n" for n in names})
    for n in names:
        (b / n).write_text("the desktop's line\n")
    r = run_proc("sync", str(b), home=home_b)
    assert r.returncode == 0, r.stderr
    for n in names:
        (a / n).write_text("the laptop's line\n")
    return a


def conflicts_of(a: Path) -> list[str]:
    records = a / ".gitsync" / "conflicts"
    return sorted(p.stem for p in records.glob("*.json")) if records.is_dir() else []


def test_a_conflict_is_one_notification_with_its_link(tmp_path: Path, sealed_env: Path,
                                                      stub: NotificationStub) -> None:
    a = conflicting_devices(tmp_path, ["notes.txt"])
    with daemon("--port", PORT, log=tmp_path / "a.log") as d:
        assert wait_for(lambda: len(conflicts_of(a)) == 1, 30), d.output()
        assert wait_for(lambda: len(stub.calls) >= 1, 15), d.output()
        time.sleep(4)  # longer than a burst: nothing else may follow
    [call] = stub.calls
    app, replaces, _icon, summary, body, _actions, hints, _timeout = call
    assert app == "gitsync" and replaces == 0
    assert summary == f"Conflict in {a.name}"
    [cid] = conflicts_of(a)
    link = f"http://127.0.0.1:{PORT}/folders/{folder_key(str(a))}/conflicts/{cid}"
    assert body.endswith(link), body
    assert "notes.txt" in body
    assert hints["x-gitsync-link"] == ("s", link)


def test_ten_conflicts_in_one_round_are_one_notification(tmp_path: Path, sealed_env: Path,
                                                         stub: NotificationStub) -> None:
    names = [f"doc{i}.txt" for i in range(10)]
    a = conflicting_devices(tmp_path, names)
    with daemon("--port", PORT, log=tmp_path / "a.log") as d:
        assert wait_for(lambda: len(conflicts_of(a)) == 10, 30), d.output()
        assert wait_for(lambda: len(stub.calls) >= 1, 15), d.output()
        time.sleep(4)
    assert stub.summaries() == [f"10 conflicts in {a.name}"]
    body = stub.calls[0][4]
    assert body.endswith(f"http://127.0.0.1:{PORT}/conflicts"), body


def test_notify_false_sends_nothing(tmp_path: Path, sealed_env: Path,
                                    stub: NotificationStub) -> None:
    a = conflicting_devices(tmp_path, ["notes.txt"])
    paths = Paths.discover()
    config = load_config(paths)
    config.settings["notify"] = False
    save_config(paths, config)
    with daemon("--port", PORT, log=tmp_path / "a.log") as d:
        assert wait_for(lambda: len(conflicts_of(a)) == 1, 30), d.output()
        time.sleep(4)
    assert stub.calls == []


def test_no_notification_service_is_one_log_line(tmp_path: Path, sealed_env: Path,
                                                 session_bus: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)  # a bus, but nobody serving
    a = conflicting_devices(tmp_path, ["notes.txt"])
    with daemon("--port", PORT, log=tmp_path / "a.log") as d:
        assert wait_for(lambda: len(conflicts_of(a)) == 1, 30), d.output()
        assert wait_for(lambda: "desktop notifications unavailable" in d.output(), 15), \
            d.output()
        assert d.proc.poll() is None
    assert len(re.findall("desktop notifications unavailable", d.output())) == 1
