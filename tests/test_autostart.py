"""Autostart: each platform's entry checked by the platform's own validator where this machine
has it (systemd-analyze, desktop-file-validate, plistlib), and enable -> status -> disable in a
temp HOME leaving nothing behind.

No test touches the real user's service manager: the systemd variant runs against a recording
fake of ``systemctl``, and every real process uses ``--xdg``.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from gitsync import autostart
from gitsync.autostart import launchd, systemd, windows, xdg
from gitsync.config import Paths
from tests.helpers import run_cli, run_proc

CI = os.environ.get("CI") == "true"
EXE = Path(sys.executable).parent / "gitsync"


def need_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if CI:
            pytest.fail(f"{name} is missing; .ci/run installs it")
        pytest.skip(f"{name} is not installed here (CI installs it)")
    return found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return h


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class FakeSystemctl:
    """Records the service-manager commands; answers like a user manager that works."""

    def __init__(self, manager: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.manager = manager
        self.enabled = False

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        assert argv[:2] == ["systemctl", "--user"], argv
        rc = 0
        if argv[2] in ("is-system-running", "show-environment"):
            rc = 0 if self.manager else 1
        elif argv[2] == "enable":
            self.enabled = True
        elif argv[2] == "disable":
            self.enabled = False
        elif argv[2] == "is-enabled":
            rc = 0 if self.enabled else 1
        return subprocess.CompletedProcess(argv, rc, "", "")


def no_commands(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    raise AssertionError(f"no command may run for the XDG entry: {argv}")


# ------------------------------------------------------------------ generated entries

def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = need_tool("systemd-analyze")
    assert EXE.exists(), "the venv's gitsync script (pip install -e .)"
    text = systemd.unit_text([str(EXE), "run"], str(tmp_path / "gs home"))
    unit = tmp_path / "gitsync.service"
    unit.write_text(text)
    r = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "gitsync.service" not in r.stderr, r.stderr
    assert f"ExecStart={EXE} run\n" in text
    for line in ("Restart=on-failure", "RestartSec=5", "StartLimitBurst=5",
                 "StartLimitIntervalSec=300", "WantedBy=default.target",
                 f'Environment="GITSYNC_HOME={tmp_path}/gs home"'):
        assert line + "\n" in text, line
    # The checker itself rejects a broken unit, so the pass above means something.
    unit.write_text(text.replace(str(EXE), str(tmp_path / "missing")))
    r = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not executable" in r.stderr


def test_systemd_unit_sets_gitsync_home_only_when_set() -> None:
    assert "Environment" not in systemd.unit_text(["/usr/bin/gitsync", "run"], None)


def test_desktop_entry_passes_desktop_file_validate(tmp_path: Path) -> None:
    tool = need_tool("desktop-file-validate")
    for gs_home in (None, str(tmp_path / "gs home")):
        text = xdg.desktop_text([str(EXE), "run"], gs_home)
        entry = tmp_path / "gitsync.desktop"
        entry.write_text(text)
        r = subprocess.run([tool, str(entry)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    assert f'Exec=env "GITSYNC_HOME={tmp_path}/gs home" {EXE} run\n' in text
    entry.write_text(text.replace("Name=gitsync\n", ""))
    r = subprocess.run([tool, str(entry)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def test_launch_agent_plist_round_trips(tmp_path: Path) -> None:
    data = launchd.plist_bytes(["/Users/a/venv/bin/gitsync", "run"], "/Users/a/gs",
                               tmp_path / "logs")
    doc = plistlib.loads(data)
    assert doc["Label"] == launchd.LABEL
    assert doc["ProgramArguments"] == ["/Users/a/venv/bin/gitsync", "run"]
    assert doc["RunAtLoad"] is True
    assert doc["KeepAlive"] == {"SuccessfulExit": False}
    assert doc["EnvironmentVariables"] == {"GITSYNC_HOME": "/Users/a/gs"}
    assert plistlib.dumps(doc, sort_keys=True) == data
    assert "EnvironmentVariables" not in plistlib.loads(
        launchd.plist_bytes(["/x/gitsync", "run"], None, tmp_path))
    path = launchd.plist_path(Path("/Users/a"))
    assert path == Path("/Users/a/Library/LaunchAgents/org.gitsync.gitsync.plist")
    assert launchd.bootstrap(501, path) == ["launchctl", "bootstrap", "gui/501", str(path)]


def test_windows_startup_script_runs_pythonw_without_a_console() -> None:
    pyw = windows.pythonw_for("C:\\Users\\a\\gitsync\\.venv\\Scripts\\python.exe")
    assert pyw == "C:\\Users\\a\\gitsync\\.venv\\Scripts\\pythonw.exe"
    text = windows.startup_cmd_text(pyw, "D:\\gs home")
    assert text == ("@echo off\r\n"
                    'set "GITSYNC_HOME=D:\\gs home"\r\n'
                    'start "" "C:\\Users\\a\\gitsync\\.venv\\Scripts\\pythonw.exe" '
                    "-m gitsync.cli run\r\n")
    assert "GITSYNC_HOME" not in windows.startup_cmd_text(pyw, None)
    where = windows.startup_path({"APPDATA": "C:\\Users\\a\\AppData\\Roaming"})
    assert str(where) == ("C:\\Users\\a\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu"
                          "\\Programs\\Startup\\gitsync.cmd")


def test_plan_points_every_variant_at_the_installed_gitsync(tmp_path: Path) -> None:
    env = {"GITSYNC_HOME": str(tmp_path / "gs"), "APPDATA": "C:\\AppData"}
    h = Path("/home/a")
    for variant in autostart.VARIANTS:
        p = autostart.plan(variant, home=h, env=env, exe=EXE, python="C:\\v\\python.exe",
                           uid=1000, log_dir=tmp_path)
        assert p.variant == variant
        assert str(tmp_path / "gs").encode() in p.content
        assert (str(EXE) if variant != "windows" else "pythonw.exe").encode() in p.content
    assert autostart.plan("systemd", home=h, env={"XDG_CONFIG_HOME": "/cfg"}, exe=EXE,
                          python="", uid=1, log_dir=tmp_path).path == Path(
        "/cfg/systemd/user/gitsync.service")
    xdg_plan = autostart.plan("xdg", home=h, env={}, exe=EXE, python="", uid=1,
                              log_dir=tmp_path)
    assert xdg_plan.path == Path("/home/a/.config/autostart/gitsync.desktop")
    with pytest.raises(autostart.AutostartError, match="unknown autostart variant"):
        autostart.plan("upstart", home=h, env={}, exe=EXE, python="", uid=1, log_dir=tmp_path)


def test_variant_follows_the_platform_and_the_user_manager() -> None:
    assert autostart.choose_variant("darwin", run=no_commands) == "launchd"
    assert autostart.choose_variant("win32", run=no_commands) == "windows"
    assert autostart.choose_variant("linux", xdg_only=True, run=no_commands) == "xdg"
    assert autostart.choose_variant("linux", run=FakeSystemctl(manager=True)) == "systemd"
    assert autostart.choose_variant("linux", run=FakeSystemctl(manager=False)) == "xdg"

    def degraded(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), 1, "degraded\n", "")

    assert autostart.choose_variant("linux", run=degraded) == "systemd"


# ------------------------------------------------------------------ enable / status / disable

def test_xdg_enable_status_disable_leaves_nothing_behind(home: Path) -> None:
    paths = Paths.discover()
    state_before = files_under(paths.state_dir) if paths.state_dir.exists() else []
    out = autostart.enable(paths, xdg_only=True, run=no_commands, platform="linux")
    entry = home / ".config" / "autostart" / "gitsync.desktop"
    assert out.changed and f"Wrote {entry} (xdg)" in out.lines
    assert any("gitsync autostart disable" in line for line in out.lines)
    assert files_under(home) == [entry]
    assert f"{EXE} run" in entry.read_text()
    record = json.loads(autostart.record_path(paths).read_text())
    assert record["path"] == str(entry) and record["variant"] == "xdg"

    st = autostart.status(paths, run=no_commands)
    assert (st.variant, st.path, st.installed, st.enabled, st.pid) == (
        "xdg", entry, True, True, None)

    out = autostart.disable(paths, run=no_commands)
    assert out.changed and f"Removed {entry}" in out.lines
    assert files_under(home) == []
    assert (files_under(paths.state_dir) if paths.state_dir.exists() else []) == state_before
    st = autostart.status(paths, run=no_commands)
    assert (st.installed, st.enabled) == (False, False)
    assert autostart.disable(paths, run=no_commands).changed is False


def test_enable_twice_changes_nothing(home: Path) -> None:
    paths = Paths.discover()
    autostart.enable(paths, xdg_only=True, run=no_commands, platform="linux")
    entry = home / ".config" / "autostart" / "gitsync.desktop"
    before = (entry.read_bytes(), entry.stat().st_mtime_ns,
              autostart.record_path(paths).stat().st_mtime_ns)
    out = autostart.enable(paths, xdg_only=True, run=no_commands, platform="linux")
    assert not out.changed and out.lines[0].startswith("Autostart already enabled (xdg)")
    assert (entry.read_bytes(), entry.stat().st_mtime_ns,
            autostart.record_path(paths).stat().st_mtime_ns) == before


def test_systemd_enable_and_disable_drive_systemctl_user(home: Path) -> None:
    paths = Paths.discover()
    fake = FakeSystemctl()
    out = autostart.enable(paths, run=fake, platform="linux")
    unit = home / ".config" / "systemd" / "user" / "gitsync.service"
    assert files_under(home) == [unit]
    assert ["systemctl", "--user", "enable", "--now", "gitsync.service"] in fake.calls
    assert any("loginctl enable-linger" in line for line in out.lines)
    assert autostart.status(paths, run=fake).enabled
    # Twice: nothing written, nothing started again.
    fake.calls.clear()
    assert not autostart.enable(paths, run=fake, platform="linux").changed
    assert [c[2] for c in fake.calls] == ["is-system-running", "is-enabled"]
    # Switched off behind gitsync's back: enable switches it on again without rewriting.
    fake.enabled = False
    assert not autostart.status(paths, run=fake).enabled
    assert autostart.enable(paths, run=fake, platform="linux").changed and fake.enabled
    fake.calls.clear()
    autostart.disable(paths, run=fake)
    assert fake.calls[0] == ["systemctl", "--user", "disable", "--now", "gitsync.service"]
    assert files_under(home) == [] and not fake.enabled


def test_a_failing_systemctl_is_one_typed_error(home: Path) -> None:
    def broken(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        rc = 1 if argv[2] == "enable" else 0
        return subprocess.CompletedProcess(list(argv), rc, "", "Failed to connect to bus\n")

    with pytest.raises(autostart.AutostartError) as e:
        autostart.enable(Paths.discover(), run=broken, platform="linux")
    assert str(e.value).count("\n") == 0 and "Failed to connect to bus" in str(e.value)


def test_enable_refuses_a_file_gitsync_did_not_write(home: Path) -> None:
    entry = home / ".config" / "autostart" / "gitsync.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nName=mine\n")
    with pytest.raises(autostart.AutostartError, match="was not written by gitsync"):
        autostart.enable(Paths.discover(), xdg_only=True, run=no_commands, platform="linux")
    assert entry.read_text() == "[Desktop Entry]\nName=mine\n"


def test_disable_leaves_an_entry_changed_since_enable(home: Path) -> None:
    paths = Paths.discover()
    autostart.enable(paths, xdg_only=True, run=no_commands, platform="linux")
    entry = home / ".config" / "autostart" / "gitsync.desktop"
    entry.write_text(entry.read_text() + "X-Mine=1\n")
    out = autostart.disable(paths, run=no_commands)
    assert entry.exists() and any("changed since gitsync wrote it" in x for x in out.lines)
    assert not autostart.record_path(paths).exists()


# ------------------------------------------------------------------ the command

def test_cli_enable_status_disable_in_a_temp_home(home: Path) -> None:
    entry = home / ".config" / "autostart" / "gitsync.desktop"
    code, out, err = run_cli("autostart", "enable", "--xdg")
    assert code == 0, err
    assert f"Wrote {entry} (xdg)" in out and "Undo with 'gitsync autostart disable'." in out
    code, out, _ = run_cli("autostart", "enable", "--xdg")
    assert code == 0 and out.startswith("Autostart already enabled")
    r = run_proc("autostart", "status")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"installed  yes (xdg): {entry}\nenabled    yes\nrunning    no\n"
    r = run_proc("autostart", "status", "--json")
    doc = json.loads(r.stdout)
    assert (doc["variant"], doc["installed"], doc["enabled"], doc["pid"]) == (
        "xdg", True, True, None)
    r = run_proc("autostart", "disable")
    assert r.returncode == 0 and f"Removed {entry}" in r.stdout, r.stderr
    assert files_under(home) == []


def test_cli_status_when_nothing_is_installed(home: Path) -> None:
    r = run_proc("autostart", "status")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == "installed  no\nenabled    no\nrunning    no\n"


def test_cli_autostart_help() -> None:
    r = run_proc("autostart", "--help")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: gitsync autostart")
    assert "{enable,disable,status}" in r.stdout and "--xdg" in r.stdout
    r = run_proc("autostart", "restart")
    assert r.returncode == 2 and "invalid choice" in r.stderr and "Traceback" not in r.stderr


def test_status_shows_autostart_only_once_it_is_set_up(home: Path) -> None:
    code, out, _ = run_cli("status")
    assert code == 0 and "autostart" not in out
    assert run_cli("autostart", "enable", "--xdg")[0] == 0
    entry = home / ".config" / "autostart" / "gitsync.desktop"
    code, out, _ = run_cli("status")
    assert code == 0
    assert out.endswith(f"\nautostart      on (xdg: {entry}); see 'gitsync autostart status'\n")
    entry.unlink()
    assert "autostart      entry missing (xdg:" in run_cli("status")[1]
    assert run_cli("autostart", "disable")[0] == 0
    assert "autostart" not in run_cli("status")[1]
