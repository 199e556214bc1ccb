"""A real OpenSSH server on 127.0.0.1 for tests that exercise git over SSH.

Tests use this instead of faking SSH because what we promise about SSH (host keys are checked and
never accepted silently, keys and ``~/.ssh/config`` aliases work exactly as they do for git) can
only be shown against the real thing. Everything the server needs lives in one temporary
directory: a throwaway host key, a client key authorized to log in as the current user, an
``sshd_config`` and the server's log.

Tests take the ``sshd`` fixture (tests/conftest.py), which is one of these per test. Usage::

    with SshServer(tmp_path / "sshd") as server:
        env = {"GIT_SSH_COMMAND": server.ssh_command()}
        url = server.url(repo_path)          # ssh://root@127.0.0.1:PORT/abs/path

The server runs as a child process in its own process group; leaving the ``with`` block (or
calling :meth:`SshServer.stop`) terminates the group and waits, so no process outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (it may be taken later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(path: Path, comment: str = "gitsync-test") -> Path:
    """Generate an unencrypted ed25519 key pair at ``path`` / ``path.pub``; return ``path``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    path.chmod(0o600)
    return path


def ssh_wrapper_env(home: Path) -> dict[str, str]:
    """Environment that makes a plain ``ssh`` read ``home/.ssh/config``.

    OpenSSH finds ``~/.ssh/config`` through the password database, not ``$HOME``, so the sealed
    test HOME alone does not reach it. This puts a one-line ``ssh`` wrapper first on ``PATH``
    that passes ``-F home/.ssh/config`` and everything else through unchanged. The code under
    test still builds its own ``ssh ...`` command exactly as for a user; only the config file
    location differs.
    """
    bin_dir = home / ".gitsync-test-bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "ssh"
    config = home / ".ssh" / "config"
    real_ssh = shutil.which("ssh") or "/usr/bin/ssh"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(real_ssh)} -F {shlex.quote(str(config))} \"$@\"\n"
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}


class SshServer:
    """An ``sshd`` listening on 127.0.0.1, accepting one generated client key.

    Attributes available once started: ``port``, ``client_key`` (private key path),
    ``known_hosts`` (a file trusting this server's host key for ``[127.0.0.1]:PORT``),
    ``host_key`` and ``log_path`` (the server's stderr, handy when a test fails).
    """

    def __init__(self, root: Path, *, start_timeout: float = 10.0,
                 session_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.start_timeout = start_timeout
        # Variables sshd sets for every session (sshd_config SetEnv). SHLVL=1 keeps bash from
        # sourcing ~/.bashrc for commands run over ssh, as Debian's bash otherwise does.
        self.session_env = dict(session_env or {})
        self.user = pwd.getpwuid(os.getuid()).pw_name  # who sshd will log us in as
        self.port = 0
        self.host_key = root / "ssh_host_ed25519_key"
        self.client_key = root / "client_key"
        self.authorized_keys = root / "authorized_keys"
        self.known_hosts = root / "known_hosts"
        self.config_path = root / "sshd_config"
        self.log_path = root / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SshServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create keys and config, start sshd and wait until it accepts connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        if not self.host_key.exists():
            make_key(self.host_key, "gitsync-test-host")
            make_key(self.client_key, "gitsync-test-client")
            self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
            self.authorized_keys.chmod(0o600)
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = free_port()
            self._write_config()
            self.known_hosts.write_text(self.known_hosts_line())
            if self._launch():
                return
            last_error = self.log()
        raise RuntimeError(f"sshd did not start:\n{last_error}")

    def restart(self) -> None:
        """Start sshd again on the same port (after :meth:`stop`), as a server that came back."""
        self.stop()
        self._write_config()
        if not self._launch():
            raise RuntimeError(f"sshd did not restart on port {self.port}:\n{self.log()}")

    def connections(self) -> list[int]:
        """Pids of the processes serving one client connection each (sshd's children)."""
        if self._proc is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("PPid", "").strip() == str(self._proc.pid) and \
                    not fields.get("State", "").startswith("Z"):
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """Terminate sshd and every connection child it forked, then reap it."""
        proc = self._proc
        if proc is None:
            return
        # Each connection's process leaves sshd's process group (setsid), and a connection
        # a client keeps open (an ssh master) would outlive sshd: end them too.
        for pid in self.connections():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._proc = None
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """The server's log so far (connection attempts, auth results)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- what tests use ------------------------------------------------------------------------

    def known_hosts_line(self) -> str:
        """The known_hosts entry that trusts this server's host key."""
        key_type, key_data = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key_data}\n"

    def ssh_command(
        self, *, known_hosts: Path | None = None, key: Path | None = None
    ) -> str:
        """A ``GIT_SSH_COMMAND`` that logs in with the client key and checks the host key.

        ``StrictHostKeyChecking`` is left at ssh's default, so a host missing from
        ``known_hosts`` is refused whenever ssh cannot ask (no terminal, or BatchMode).
        ``-F /dev/null`` keeps the machine's own ``~/.ssh/config`` out of the test.
        """
        kh = known_hosts if known_hosts is not None else self.known_hosts
        identity = key if key is not None else self.client_key
        return shlex.join(
            [
                "ssh",
                "-F", "/dev/null",
                "-i", str(identity),
                "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={kh}",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-p", str(self.port),
            ]
        )

    def url(self, path: Path) -> str:
        """An ``ssh://`` URL for an absolute path on this server."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path.resolve()}"

    def write_ssh_config(
        self,
        home: Path,
        alias: str,
        *,
        known_hosts: Path | None = None,
        key: Path | None = None,
    ) -> Path:
        """Add a ``Host alias`` block for this server to ``home/.ssh/config``; return its path.

        With it, ``alias:/abs/path/repo.git`` URLs work as they would for a user who set up
        an alias. Use :func:`ssh_wrapper_env` so ssh reads this file (see there for why).
        """
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        ssh_dir.chmod(0o700)
        config = ssh_dir / "config"
        kh = known_hosts if known_hosts is not None else self.known_hosts
        identity = key if key is not None else self.client_key
        block = (
            f"Host {alias}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {self.port}\n"
            f"    User {self.user}\n"
            f"    IdentityFile {identity}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {kh}\n"
            f"    GlobalKnownHostsFile /dev/null\n"
        )
        previous = config.read_text() if config.exists() else ""
        config.write_text(previous + block)
        config.chmod(0o600)
        return config

    # -- internals -----------------------------------------------------------------------------

    def _write_config(self) -> None:
        self.config_path.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {self.port}",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "PermitUserEnvironment no",
                    # lets git use protocol v2 over SSH, as git hosting services do
                    "AcceptEnv GIT_PROTOCOL",
                    "UseDNS no",
                    "PrintMotd no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "LogLevel VERBOSE",
                    *(f"SetEnv {k}={v}" for k, v in self.session_env.items()),
                    "",
                ]
            )
        )

    def _launch(self) -> bool:
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._proc = proc
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._proc = None
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.settimeout(2.0)
                    if sock.recv(4).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False
