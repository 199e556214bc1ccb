"""Start gitsync on login: one entry per platform, written, recorded, and removed again.

Which entry: on Linux the systemd user unit when a user manager answers (restarts on
failure, logs to the journal), else (or with ``xdg=True``) an XDG autostart entry; on macOS a
LaunchAgent; on Windows a Startup-folder script. The text of each comes from a pure function
in the module named after it, so all four are checked on any machine.

What ``enable`` wrote is recorded in ``autostart.json`` in the state dir (path and digest);
``disable`` removes that file only, and only while it still holds what gitsync wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitsync.autostart import launchd, systemd, windows, xdg
from gitsync.config import Paths
from gitsync.daemon_lock import running_daemon_pid
from gitsync.errors import GitsyncError

VARIANTS = ("systemd", "xdg", "launchd", "windows")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class AutostartError(GitsyncError):
    """Autostart could not be set up or removed; the message names the file or command."""

    def __init__(self, message: str, *, hint: str | None = None,
                 path: Path | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a service-manager command; a missing program is exit 127, never an exception."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=30,
                              check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(list(argv), 127, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", f"{argv[0]}: timed out")


def gitsync_executable() -> Path:
    """The installed ``gitsync`` of this venv (so autostart runs what ``scripts/run.sh``
    installed), else the one on PATH."""
    venv = Path(sys.executable).parent / "gitsync"
    if venv.exists():
        return venv.absolute()
    found = shutil.which("gitsync")
    if found:
        return Path(found).absolute()
    raise AutostartError("no installed 'gitsync' command found",
                         hint="install gitsync (scripts/run.sh) and run this again")


def user_manager_answers(run: Runner = run_command) -> bool:
    """True when a systemd user manager serves this session."""
    for probe in ("is-system-running", "show-environment"):
        r = run(systemd.systemctl(probe))
        # is-system-running exits 1 for "degraded", which is still a manager answering.
        if r.returncode == 0 or (probe == "is-system-running" and r.stdout.strip()
                                 in ("degraded", "starting", "running")):
            return True
    return False


def choose_variant(platform: str, *, xdg_only: bool = False,
                   run: Runner = run_command) -> str:
    if platform == "darwin":
        return "launchd"
    if platform.startswith("win"):
        return "windows"
    if xdg_only:
        return "xdg"
    return "systemd" if user_manager_answers(run) else "xdg"


@dataclass(frozen=True)
class Plan:
    """One entry to write, and the commands that switch it on and off."""

    variant: str
    path: Path
    content: bytes
    start: tuple[tuple[str, ...], ...] = ()
    stop: tuple[tuple[str, ...], ...] = ()
    enabled_check: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()


def plan(variant: str, *, home: Path, env: Mapping[str, str], exe: Path, python: str,
         uid: int, log_dir: Path) -> Plan:
    """The entry for VARIANT; pure but for reading nothing: HOME and ENV are parameters."""
    gitsync_home = _gitsync_home(env)
    argv = [str(exe), "run"]
    if variant == "systemd":
        unit = systemd.UNIT_NAME
        return Plan("systemd", systemd.unit_path(home, env),
                    systemd.unit_text(argv, gitsync_home).encode(),
                    start=(tuple(systemd.systemctl("daemon-reload")),
                           tuple(systemd.systemctl("enable", "--now", unit))),
                    stop=(tuple(systemd.systemctl("disable", "--now", unit)),),
                    enabled_check=tuple(systemd.systemctl("is-enabled", "--quiet", unit)),
                    notes=("Logs: journalctl --user -u gitsync", systemd.LINGER_ADVICE))
    if variant == "xdg":
        return Plan("xdg", xdg.desktop_path(home, env),
                    xdg.desktop_text(argv, gitsync_home).encode(),
                    notes=("gitsync starts at your next login; start it now with "
                           "'gitsync run'.",))
    if variant == "launchd":
        path = launchd.plist_path(home)
        return Plan("launchd", path, launchd.plist_bytes(argv, gitsync_home, log_dir),
                    start=(tuple(launchd.bootstrap(uid, path)),),
                    stop=(tuple(launchd.bootout(uid, path)),),
                    enabled_check=("launchctl", "print", f"gui/{uid}/{launchd.LABEL}"))
    if variant == "windows":
        text = windows.startup_cmd_text(windows.pythonw_for(python), gitsync_home)
        return Plan("windows", Path(windows.startup_path(env)), text.encode(),
                    notes=("gitsync starts at your next logon; start it now with "
                           "'gitsync run'.",))
    raise AutostartError(f"unknown autostart variant '{variant}'",
                         hint=f"one of: {', '.join(VARIANTS)}")


def _gitsync_home(env: Mapping[str, str]) -> str | None:
    home = env.get("GITSYNC_HOME")
    return str(Path(home).expanduser().resolve()) if home else None


def current_plan(paths: Paths, *, xdg_only: bool = False, run: Runner = run_command,
                 env: Mapping[str, str] | None = None, platform: str | None = None) -> Plan:
    env = os.environ if env is None else env
    variant = choose_variant(platform or sys.platform, xdg_only=xdg_only, run=run)
    return plan(variant, home=Path(env.get("HOME") or Path.home()), env=env,
                exe=gitsync_executable(), python=sys.executable,
                uid=os.getuid() if hasattr(os, "getuid") else 0, log_dir=paths.log_dir)


# ------------------------------------------------------------------ the record

def record_path(paths: Paths) -> Path:
    return paths.state_dir / "autostart.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(paths: Paths) -> dict[str, object] | None:
    try:
        doc = json.loads(record_path(paths).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise AutostartError(f"cannot read {record_path(paths)}",
                             hint="remove it and run 'gitsync autostart enable' again") from e
    return doc if isinstance(doc, dict) else None


def _write_record(paths: Paths, p: Plan) -> None:
    from gitsync.fsutil import atomic_write

    doc = {"variant": p.variant, "path": str(p.path), "sha256": _digest(p.content),
           "stop": [list(c) for c in p.stop], "enabled_check": p.enabled_check,
           "written": time.time()}
    record_path(paths).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(record_path(paths), (json.dumps(doc, indent=2) + "\n").encode())


def _run_all(commands: Sequence[Sequence[str]], run: Runner, doing: str) -> None:
    for argv in commands:
        r = run(argv)
        if r.returncode != 0:
            why = (r.stderr or r.stdout).strip().splitlines()
            raise AutostartError(f"{doing}: '{' '.join(argv)}' failed"
                                 + (f" ({why[0]})" if why else ""),
                                 hint="see 'gitsync autostart status'")


# ------------------------------------------------------------------ use cases

@dataclass
class Outcome:
    """What enable or disable did, in lines to show the user."""

    changed: bool
    lines: list[str] = field(default_factory=list)


def enable(paths: Paths, *, xdg_only: bool = False, run: Runner = run_command,
           env: Mapping[str, str] | None = None, platform: str | None = None) -> Outcome:
    from gitsync.fsutil import atomic_write

    p = current_plan(paths, xdg_only=xdg_only, run=run, env=env, platform=platform)
    rec = _read_record(paths)
    if rec is not None and rec.get("path") != str(p.path):
        raise AutostartError(f"autostart is already enabled ({rec.get('variant')}: "
                             f"{rec.get('path')})",
                             hint="run 'gitsync autostart disable' first to switch")
    current = p.path.read_bytes() if p.path.exists() else None
    if current is not None and current != p.content and rec is None:
        raise AutostartError(f"{p.path} exists and was not written by gitsync",
                             hint="move it away and run this again", path=p.path)
    undo = "Undo with 'gitsync autostart disable'."
    if current == p.content and rec is not None:
        if p.enabled_check is None or run(p.enabled_check).returncode == 0:
            return Outcome(False, [f"Autostart already enabled ({p.variant}): {p.path}", undo])
        _run_all(p.start, run, "switching autostart on")
        return Outcome(True, [f"Autostart switched on again ({p.variant}): {p.path}", undo])
    p.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p.path, p.content)
    _write_record(paths, p)
    _run_all(p.start, run, "switching autostart on")
    lines = [f"Wrote {p.path} ({p.variant})"]
    lines += [f"Ran {' '.join(c)}" for c in p.start]
    lines += [f"Recorded in {record_path(paths)}", *p.notes, undo]
    return Outcome(True, lines)


def disable(paths: Paths, *, run: Runner = run_command) -> Outcome:
    rec = _read_record(paths)
    if rec is None:
        return Outcome(False, ["Autostart is not enabled; nothing to do."])
    path = Path(str(rec.get("path")))
    stop = rec.get("stop") or []
    assert isinstance(stop, list)
    lines: list[str] = []
    if path.exists():
        _run_all([[str(w) for w in c] for c in stop], run, "switching autostart off")
        lines += [f"Ran {' '.join(str(w) for w in c)}" for c in stop]
        if _digest(path.read_bytes()) == rec.get("sha256"):
            path.unlink()
            lines.append(f"Removed {path}")
        else:
            lines.append(f"Left {path} in place: it was changed since gitsync wrote it")
    else:
        lines.append(f"{path} was already gone")
    if rec.get("variant") == "systemd":
        run(systemd.systemctl("daemon-reload"))
    record_path(paths).unlink()
    lines.append("Autostart disabled; 'gitsync autostart enable' sets it up again.")
    return Outcome(True, lines)


@dataclass(frozen=True)
class AutostartStatus:
    variant: str | None
    path: Path | None
    installed: bool
    enabled: bool
    pid: int | None
    since: float | None

    def to_json(self) -> dict[str, object]:
        return {"variant": self.variant, "path": str(self.path) if self.path else None,
                "installed": self.installed, "enabled": self.enabled, "pid": self.pid,
                "since": self.since}


def status(paths: Paths, *, run: Runner = run_command) -> AutostartStatus:
    rec = _read_record(paths)
    pid = running_daemon_pid(paths)
    since = None
    if pid is not None:
        # The daemon writes its pid into the lock file when it starts.
        try:
            since = paths.lock_file.stat().st_mtime
        except OSError:
            since = None
    if rec is None:
        return AutostartStatus(None, None, False, False, pid, since)
    path = Path(str(rec.get("path")))
    installed = path.exists()
    check = rec.get("enabled_check")
    enabled = installed and (not isinstance(check, list)
                             or run([str(w) for w in check]).returncode == 0)
    return AutostartStatus(str(rec.get("variant")), path, installed, enabled, pid, since)
