"""Network: the remote disappears mid-fetch and mid-push, and the devices come back.

Three devices reach one hub over SSH, the way a user reaches a server: a host alias in the
ssh config, no ssh command of their own, so each daemon shares one ssh connection (a
ControlMaster) for its fetches, pushes and the live ref stream (``gitsync watch-refs`` on
the host). The alias points at :class:`CutProxy`, a small TCP proxy on 127.0.0.1 in front of
a real OpenSSH server (tests/sshd.py), so every byte between the devices and the host passes
through something the suite controls.

Writers save files on every device (four files shared by all of them, the rest their own)
while the suite breaks the remote in one of three ways, chosen at random:

* **sshd**: the server is killed with every session it forked (SshServer.stop), so the
  masters' connections die with it; the proxy resets new connections while it is down.
  It is started again on the same port after the outage.
* **hub**: the hub is made unreadable: an empty directory is bind-mounted over it (we run
  as root, whom chmod does not stop); where mounting is not allowed, it is renamed away.
  Transfers in flight keep their open directory, new ones find no repository there.
* **proxy**: the proxy cuts connections after N bytes (seeded N, counted from the moment it
  is armed, either direction), or goes offline: it cuts every open connection and refuses
  new ones (its listening socket is closed).

Each outage lasts a few seconds while the writers keep saving (the daemons keep committing
offline); then the writers pause, the network comes back, and the devices must converge on
their own (the suite never calls ``gitsync sync``); convergence is timed from the moment the
network came back. After every scenario: no owed version lost, the hub passes fsck, no
conflict markers. Every ``FSCK_EVERY`` scenarios and at the end the daemons are stopped and
every working copy is fsck'ed (locks, HEAD). Nothing is written outside the folders.

Every connection severed counts as one fault (a proxy cut, each connection an offline
proxy or a killed sshd took down), and every hub outage as one. Each fault is classified by
what the daemons' ``--debug`` logs say was in flight at that moment: a fetch, a push, an
``ls-remote``, the live ref stream (connected), or nothing.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.harness import (
    ROOT,
    Checked,
    Device,
    OutsideGuard,
    Row,
    Sandbox,
    Writer,
    WriterLog,
    check_invariants,
    conflict_records,
    lost_versions,
    marker_files,
    repo_errors,
    wait_converged,
    wait_for,
)
from tests.sshd import SshServer, ssh_wrapper_env

DEBOUNCE = 0.3
DELETE_DELAY = 2.0  # gitsync's delete_delay: a pending delete holds its batch back this long
SETTLE = DEBOUNCE + DELETE_DELAY + 1.0  # a version on disk this long is owed
ALIAS = "gitsync-net-box"
CONVERGE_TIMEOUT = 120.0


# ---------------------------------------------------------------------------------------
# the proxy


class CutProxy:
    """A TCP proxy on 127.0.0.1:``port`` to 127.0.0.1:``target``.

    ``arm(n, upstream)``: every open connection, and every new one, is cut (both sockets
    closed with a reset) once N more bytes went through it in one direction (client to
    server when UPSTREAM, else server to client); ``disarm()`` stops cutting. ``offline()``
    cuts every connection and closes the listening socket, so connections are refused until
    ``online()``. A connection whose target refuses (sshd down) is reset at once.
    ``cuts`` counts connections cut by the byte limit, ``severed`` those offline() cut.
    """

    def __init__(self, target: int, port: int = 0,
                 on_cut: Callable[[], None] | None = None) -> None:
        self.target = target
        self.on_cut = on_cut  # called (on the connection's thread) after each byte cut
        self.port = port
        self.cuts = 0
        self.severed = 0
        self.refused_upstream = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._conns: dict[int, _Conn] = {}
        self._limit: tuple[int, bool] | None = None
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stop = threading.Event()
        self._ids = 0

    # control

    def start(self) -> None:
        self.online()

    def online(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(64)
            sock.settimeout(0.1)
            self.port = sock.getsockname()[1]
            self._listener = sock
            self._stop.clear()
            self._accepting = threading.Thread(target=self._accept, args=(sock,),
                                               name="proxy-accept", daemon=True)
            self._accepting.start()

    def offline(self) -> int:
        """Refuse new connections and cut the open ones; returns how many were cut."""
        with self._lock:
            sock, self._listener = self._listener, None
            thread, self._accepting = self._accepting, None
            self._stop.set()
        if thread is not None:
            thread.join(5)
        if sock is not None:
            sock.close()
        n = self.cut_all()
        self.severed += n
        return n

    def cut_all(self) -> int:
        with self._lock:
            conns = list(self._conns.values())
        return sum(c.cut() for c in conns)

    def arm(self, n: int, upstream: bool) -> None:
        with self._lock:
            self._limit = (n, upstream)
            for c in self._conns.values():
                c.counted = [0, 0]

    def disarm(self) -> None:
        with self._lock:
            self._limit = None

    def close(self) -> None:
        self.offline()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    # the work

    def _accept(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                self.refused_upstream += 1
                _reset(client)
                continue
            with self._lock:
                self._ids += 1
                conn = _Conn(self, self._ids, client, server)
                self._conns[conn.id] = conn
            threading.Thread(target=conn.pump, name=f"proxy-{conn.id}", daemon=True).start()

    def _moved(self, conn: _Conn, upstream: bool, n: int) -> bool:
        """Count N bytes; True if the connection must be cut now."""
        with self._lock:
            if self._limit is None:
                return False
            conn.counted[upstream] += n
            limit, direction = self._limit
            return direction == upstream and conn.counted[upstream] >= limit

    def _gone(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.pop(conn.id, None)


@dataclass
class _Conn:
    proxy: CutProxy
    id: int
    client: socket.socket
    server: socket.socket
    counted: list[int] = field(default_factory=lambda: [0, 0])  # [down, up]
    done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cut(self) -> bool:
        """Reset both sides; True if this call cut a live connection."""
        with self._lock:
            if self.done:
                return False
            self.done = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RD)  # wakes the pump (no FIN); it closes with a reset
        return True

    def pump(self) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(self.client, selectors.EVENT_READ, True)  # client -> server: up
            sel.register(self.server, selectors.EVENT_READ, False)
            while sel.get_map() and not self.done:
                for key, _ in sel.select(timeout=0.5):
                    if not self._forward(key.data):
                        sel.unregister(key.fileobj)  # that direction ended
        finally:
            sel.close()
            close = _reset if self.done else _close
            close(self.client)
            close(self.server)
            self.proxy._gone(self)

    def _forward(self, upstream: bool) -> bool:
        """Move what arrived in one direction; False once that direction ended (its end is
        passed on as an ordinary close, a half-close, as a proxy must)."""
        src = self.client if upstream else self.server
        dst = self.server if upstream else self.client
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if self.done:
            return False
        if not data:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            return False
        if self.proxy._moved(self, upstream, len(data)):
            # pass on only what fits under the limit: the cut lands mid-stream
            limit = self.proxy._limit[0] if self.proxy._limit else 0
            over = self.counted[upstream] - limit
            with contextlib.suppress(OSError):
                dst.sendall(data[:max(0, len(data) - over)])
            if self.cut():
                self.proxy.cuts += 1
                if self.proxy.on_cut is not None:
                    self.proxy.on_cut()
            return False
        try:
            dst.sendall(data)
        except OSError:
            return False
        return True


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a dropped link or a dead host's kernel would say."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


# ---------------------------------------------------------------------------------------
# hiding the hub


class HubHider:
    """Makes the hub unreadable for a while: an empty directory bind-mounted over it, or,
    where mounting is not allowed, the hub renamed away. ``how`` says which was used."""

    def __init__(self, hub: Path) -> None:
        self.hub = hub
        self.empty = hub.parent / (hub.name + ".empty")
        self.away = hub.parent / (hub.name + ".away")
        self.how: str | None = None
        self.hidden = False

    def hide(self) -> None:
        if self.how in (None, "bind mount"):
            self.empty.mkdir(exist_ok=True)
            r = subprocess.run(["mount", "--bind", str(self.empty), str(self.hub)],
                               capture_output=True, text=True)
            if r.returncode == 0:
                self.how, self.hidden = "bind mount", True
                return
        os.rename(self.hub, self.away)
        self.how, self.hidden = "rename", True

    def restore(self) -> None:
        if not self.hidden:
            return
        if self.how == "bind mount":
            for _ in range(50):  # a process may be in the mount for a moment
                r = subprocess.run(["umount", str(self.hub)], capture_output=True, text=True)
                if r.returncode == 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.run(["umount", "-l", str(self.hub)], check=True)
        else:
            os.rename(self.away, self.hub)
        self.hidden = False


# ---------------------------------------------------------------------------------------
# what was in flight


_START = re.compile(r"^\S+ git (fetch|push|ls-remote) (\S+)$")
_EXIT = re.compile(r"^\S+ git (fetch|push|ls-remote) (\S+): exit")
_STREAM_UP = "live updates from"


def in_flight(log: str) -> set[str]:
    """What a daemon's ``--debug`` log (up to a moment) shows was running at that moment:
    transfers started and not yet finished ("fetch", "push", "ls-remote") and "stream" if
    the live ref stream was connected."""
    running: Counter[str] = Counter()
    stream = False
    for line in log.splitlines():
        if m := _START.search(line):
            running[m.group(1)] += 1
        elif m := _EXIT.search(line):
            running[m.group(1)] = max(0, running[m.group(1)] - 1)
        elif _STREAM_UP in line:
            stream = line.rstrip().endswith(" connected")
    found = {op for op, n in running.items() if n > 0}
    if stream:
        found.add("stream")
    return found


@dataclass
class Fault:
    kind: str  # sshd, hub, proxy-cut, proxy-offline
    count: int  # connections severed (1 for a hub outage)
    offsets: dict[str, int]  # each device's log size at that moment


# ---------------------------------------------------------------------------------------
# the suite


def set_up_ssh(sandbox: Sandbox, server: SshServer, proxy_port: int) -> None:
    """An ssh config alias for the host behind the proxy, read by ssh through the wrapper
    on PATH (tests.sshd.ssh_wrapper_env), as a user's ~/.ssh/config would be."""
    home = Path(sandbox.env["HOME"])
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    key_type, key_data = server.host_key.with_suffix(".pub").read_text().split()[:2]
    known = ssh_dir / "known_hosts"
    known.write_text(f"[127.0.0.1]:{proxy_port} {key_type} {key_data}\n")
    config = ssh_dir / "config"
    config.write_text(
        f"Host {ALIAS}\n"
        f"    HostName 127.0.0.1\n"
        f"    Port {proxy_port}\n"
        f"    User {server.user}\n"
        f"    IdentityFile {server.client_key}\n"
        f"    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known}\n"
        f"    GlobalKnownHostsFile /dev/null\n"
        f"    ConnectTimeout 10\n")
    config.chmod(0o600)
    sandbox.env.update(ssh_wrapper_env(home))


def use_remote_gitsync(device: Device) -> None:
    """The host side of the live ref stream runs this checkout's gitsync."""
    config = device.home / "config" / "config.toml"
    text = config.read_text()
    line = f'remote_gitsync = "{sys.executable} -m gitsync.cli"'
    config.write_text(text.replace("[settings]", f"[settings]\n{line}", 1)
                      if "[settings]" in text else text + f"\n[settings]\n{line}\n")


def run(root: Path, *, quick: bool, seed: int, say: Callable[[str], None]) -> list[Row]:
    budget = 80.0 if quick else 780.0  # seconds of scenarios, set-up and checks aside
    fsck_every = 4 if quick else 10
    row = Row(suite="network (3 devices over ssh)")
    rng = random.Random(seed)
    sandbox = Sandbox(root)
    hub = sandbox.bare_hub()
    server = SshServer(root / "sshd", session_env={"PYTHONPATH": str(ROOT), "SHLVL": "1"})
    proxy: CutProxy | None = None
    hider = HubHider(hub)
    devices = [Device(sandbox, n) for n in ("A", "B", "C")]
    logs = [WriterLog(root / f"writer-{d.name}.log") for d in devices]
    writers: list[Writer] = []
    faults: list[Fault] = []
    scenarios = 0
    start_args = ("--debounce", str(DEBOUNCE), "--debug")
    device_fscks = 0
    reported: set[tuple[str, str]] = set()

    def offsets() -> dict[str, int]:
        return {d.name: d.log_size() for d in devices}

    def check_devices() -> None:
        nonlocal device_fscks
        for w in writers:
            w.pause()
        for d in devices:
            if d.stop() != 0:
                row.fail(f"{d.name}: daemon exited non-zero on SIGTERM")
            row.add_rss(d.peak_rss_kb)
        for d in devices:
            errors = repo_errors(sandbox, d.folder)
            row.fsck_errors += len(errors)
            for e in errors:
                row.fail(f"after scenario {scenarios}: {e}")
        device_fscks += 1

    try:
        server.start()
        cut_lock = threading.Lock()

        def on_cut() -> None:  # each cut, with what the daemons were doing at that moment
            with cut_lock:
                faults.append(Fault("proxy-cut", 1, offsets()))

        proxy = CutProxy(server.port, on_cut=on_cut)
        proxy.start()
        set_up_ssh(sandbox, server, proxy.port)
        for d in devices:
            d.env = {**sandbox.env, "GITSYNC_HOME": str(d.home)}
        url = f"{ALIAS}:{hub}"
        devices[0].init(url)
        for d in devices[1:]:
            d.clone(url)
        for d in devices:
            use_remote_gitsync(d)
        guard = OutsideGuard(sandbox, [*(d.folder for d in devices),
                                       *(d.home for d in devices), hub, root / "sshd",
                                       root / "home", *(lg.path for lg in logs)])
        shared = ["shared/plan.txt", "shared/notes.txt", "todo.txt", "shared/journal.txt"]
        writers = [Writer(d.folder, lg, random.Random(rng.random()), hold=SETTLE + 0.5,
                          quick_gap=(0.05, 0.8), long_share=0.3,
                          names=shared + [f"{d.name.lower()}/file-{i}.txt" for i in range(6)])
                   for d, lg in zip(devices, logs, strict=True)]
        for d in devices:
            d.start(*start_args)
        if not all(_wait_stream(d, 30) for d in devices):
            row.notes.append("the live ref stream did not connect on every device at start")
        for w in writers:
            w.start()
        began = time.monotonic()
        while time.monotonic() - began < budget:
            scenarios += 1
            kind = rng.choice(("sshd", "hub", "proxy-cut", "proxy-cut", "proxy-offline"))
            time.sleep(rng.uniform(0.3, 2.5))  # writers save, daemons push and fetch
            down_for = rng.uniform(1.5, 4.0)
            if kind == "sshd":
                mark = offsets()
                severed = proxy.open_connections
                server.stop()
                faults.append(Fault("sshd", max(1, severed), mark))
                time.sleep(down_for)
            elif kind == "hub":
                faults.append(Fault("hub", 1, offsets()))
                hider.hide()
                time.sleep(down_for)
            elif kind == "proxy-offline":
                mark = offsets()
                n = proxy.offline()
                faults.append(Fault("proxy-offline", max(1, n), mark))
                time.sleep(down_for)
            else:
                # a flaky link: while armed, every connection (the masters open now, and
                # each one a retry opens) is cut once N bytes went through it
                n_bytes = int(rng.choice((rng.uniform(200, 6000), rng.uniform(6000, 40000))))
                before = proxy.cuts
                proxy.arm(n_bytes, upstream=rng.random() < 0.5)
                if not wait_for(lambda b=before: proxy.cuts > b, 8.0, 0.01):  # type: ignore[misc]
                    proxy.disarm()
                    scenarios -= 1  # nothing went through: not a scenario
                    continue
                time.sleep(down_for)
            # the network comes back: writers pause, the devices must converge by themselves
            for w in writers:
                w.pause()
            if kind == "sshd":
                server.restart()
            elif kind == "hub":
                hider.restore()
            elif kind == "proxy-cut":
                proxy.disarm()
            else:
                proxy.online()
            back = time.monotonic()
            took = wait_converged(devices, hub, timeout=CONVERGE_TIMEOUT)
            if took is None:
                row.fail(f"scenario {scenarios} ({kind}): devices did not converge within "
                         f"{CONVERGE_TIMEOUT:.0f} s of the network coming back")
                break
            row.convergence.append(time.monotonic() - back)
            for d, lg in zip(devices, logs, strict=True):
                _owed, lost = lost_versions(sandbox, lg, d.folder, SETTLE)
                for v in [v for v in lost if (d.name, v.blob) not in reported][:5]:
                    reported.add((d.name, v.blob))  # each loss is reported once
                    life = (v.ended or time.monotonic()) - v.written
                    row.fail(f"scenario {scenarios} ({kind}): {d.name} lost {v.path} "
                             f"({v.blob[:10]}), on disk {life:.1f} s")
                for path in marker_files(d.folder):
                    row.fail(f"scenario {scenarios}: {d.name}: conflict markers in {path}")
                if not d.running:
                    row.fail(f"scenario {scenarios}: {d.name}'s daemon died")
            for e in repo_errors(sandbox, hub, bare=True):
                row.fsck_errors += 1
                row.fail(f"scenario {scenarios}: {e}")
            say(f"network: scenario {scenarios} ({kind}) converged in {row.convergence[-1]:.1f}"
                f" s; {sum(f.count for f in faults)} faults so far")
            if scenarios % fsck_every == 0:
                check_devices()
                for d in devices:
                    d.start(*start_args)
            for w in writers:
                w.resume()
        for w in writers:
            w.stop()
        if not row.failures:
            took = wait_converged(devices, hub, timeout=CONVERGE_TIMEOUT)
            if took is None:
                row.fail("devices did not converge after the writers stopped")
        check_devices()
        for change in guard.changes():
            row.fail(f"written outside the folders: {change}")
    finally:
        for w in writers:
            w.stop()
        for d in devices:
            if d.running:
                d.kill()
        with contextlib.suppress(Exception):
            hider.restore()
        if proxy is not None:
            proxy.close()
        server.stop()
    # invariants over the whole run
    row.written = sum(len(lg.versions) for lg in logs)
    # (the copies were checked with fsck by check_devices, once their daemons stopped)
    check_invariants(row, sandbox, [Checked(d.name, d.folder, lg)
                                    for d, lg in zip(devices, logs, strict=True)], hub, SETTLE,
                     fsck_copies=False, reported=reported)
    for d in devices:
        if "Traceback" in d.log_since(0):
            row.fail(f"{d.name}: a traceback in the daemon's log")
    row.faults = sum(f.count for f in faults)
    row.conflicts_raised = conflict_records(sandbox, hub, "A")
    row.conflicts_resolved = conflict_records(sandbox, hub, "D")
    kinds = Counter()
    for f in faults:
        kinds[f.kind] += f.count
    hit: Counter[str] = Counter()
    for f in faults:
        running: set[str] = set()
        for d in devices:
            running |= in_flight(_head(d, f.offsets[d.name]))
        for what in running or {"idle"}:
            hit[what] += f.count
    row.notes.append(
        f"{scenarios} outages: " + ", ".join(f"{kinds[k]} {k}" for k in
                                            ("sshd", "hub", "proxy-cut", "proxy-offline")) +
        " faults (connections severed; a hub outage counts one)")
    row.notes.append(
        "at the cut, the daemons' debug logs show in flight: " +
        ", ".join(f"{hit[k]} {k}" for k in ("fetch", "push", "ls-remote", "stream", "idle")) +
        " (a cut counts under each thing running on any device)")
    row.notes.append(
        f"hub made unreadable by {hider.how or 'nothing (no hub outage drawn)'}; working "
        f"copies fsck'ed with daemons stopped every {fsck_every} outages and at the end "
        f"({device_fscks} times); hub fsck, lost versions and markers after every outage")
    if proxy is not None:
        row.notes.append(f"proxy: {proxy.accepted} connections, {proxy.refused_upstream} "
                         "reset while sshd was down")
    errors = sum(len(w.errors) for w in writers)
    if errors:
        row.notes.append(f"{errors} writer operations met a file a sync had just replaced")
    return [row]


def _head(device: Device, offset: int) -> str:
    with open(device.logfile, "rb") as fh:
        return fh.read(offset).decode(errors="replace")



def _wait_stream(device: Device, timeout: float) -> bool:
    return wait_for(lambda: " connected" in device.log_since(0), timeout, 0.01)



