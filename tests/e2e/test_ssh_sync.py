"""Two devices syncing through a bare hub reached over a real OpenSSH server on 127.0.0.1.

The sshd harness (tests.sshd.SshServer) logs in with a throwaway key; GIT_SSH_COMMAND points
git at it, as a user's own setting would. The CLI runs in-process; git is the judge.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import fsck_clean, git, run_cli
from tests.sshd import SshServer, make_key
from tests.sync_helpers import files_of, sync


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    path = tmp_path / "srv" / "hub.git"
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def make_a(tmp_path: Path, url: str) -> Path:
    a = tmp_path / "A"
    a.mkdir()
    (a / "notes.txt").write_text("Meeting on Monday.\nBring the slides.\n")
    code, out, err = run_cli("init", str(a), "--device", "laptop", "--remote", url, "--json")
    assert code == 0, err
    assert json.loads(out)["remote"] == url
    return a


def test_two_devices_sync_over_ssh(sshd: SshServer, hub: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command())
    url = sshd.url(hub)
    assert url.startswith(f"ssh://{sshd.user}@127.0.0.1:{sshd.port}/")
    a = make_a(tmp_path, url)
    rep = sync(a)
    assert rep["pushed"] == git(hub, "rev-parse", "main").strip()
    b = tmp_path / "B"
    code, _, err = run_cli("clone", url, str(b), "--device", "desktop")
    assert code == 0, err
    assert (b / "notes.txt").read_text() == "Meeting on Monday.\nBring the slides.\n"
    assert git(b, "remote", "get-url", "origin").strip() == url

    # A -> B
    (a / "agenda.txt").write_text("1. budget\n")
    sync(a)
    assert sync(b)["action"] == "fast-forward"
    assert (b / "agenda.txt").read_text() == "1. budget\n"
    # B -> A, merged with a concurrent edit to another line on A
    (b / "notes.txt").write_text("Meeting on Monday at ten.\nBring the slides.\n")
    (a / "notes.txt").write_text("Meeting on Monday.\nBring the slides and coffee.\n")
    sync(b)
    assert sync(a)["action"] == "merged"
    sync(b)
    for d in (a, b):
        assert (d / "notes.txt").read_text() == \
            "Meeting on Monday at ten.\nBring the slides and coffee.\n"
    # a conflict: both keep both versions, both list it, resolving clears it everywhere
    (a / "notes.txt").write_text("Meeting on Tuesday.\nBring the slides and coffee.\n")
    (b / "notes.txt").write_text("Meeting on Friday.\nBring the slides and coffee.\n")
    (b / "agenda.txt").write_text("1. budget\n2. hiring\n")
    sync(a)
    [rec] = sync(b, expect=1)["new_conflicts"]
    sync(a, expect=1)
    for d in (a, b):
        assert (d / "notes.txt").read_text().startswith("Meeting on Friday.")
        assert (d / rec["copy_path"]).read_text().startswith("Meeting on Tuesday.")
        code, out, _ = run_cli("conflicts", str(d), "--json")
        assert [r["id"] for r in json.loads(out)["folders"][0]["conflicts"]] == [rec["id"]]
    code, _, err = run_cli("resolve", "notes.txt", "--theirs", cwd=a)
    assert code == 0, err
    sync(a)
    sync(b)
    for d in (a, b):
        assert (d / "notes.txt").read_text().startswith("Meeting on Tuesday.")
        assert not (d / rec["copy_path"]).exists()
        code, out, _ = run_cli("conflicts", str(d), "--json")
        assert json.loads(out)["folders"][0]["conflicts"] == []
        fsck_clean(d)
    assert files_of(a) == files_of(b)
    assert git(a, "rev-parse", "HEAD") == git(b, "rev-parse", "HEAD") == \
        git(hub, "rev-parse", "main")
    assert f"Accepted publickey for {sshd.user}" in sshd.log()


@pytest.mark.parametrize("host_key", ["unknown", "changed"])
def test_unknown_host_key_stops_sync_and_changes_nothing(
    sshd: SshServer, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    host_key: str
) -> None:
    url = sshd.url(hub)
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command())
    a = make_a(tmp_path, url)
    sync(a)
    known_hosts = tmp_path / "known_hosts"
    if host_key == "unknown":
        known_hosts.write_text("")
    else:  # a known key that is not the server's: ssh must refuse, never replace it
        impostor = make_key(tmp_path / "impostor_host_key")
        key_type, key_data = impostor.with_suffix(".pub").read_text().split()[:2]
        known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n")
    trusted = known_hosts.read_text()
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command(known_hosts=known_hosts))
    (a / "notes.txt").write_text("edited while the host key is unknown\n")
    hub_tip = git(hub, "rev-parse", "main").strip()
    code, _, err = run_cli("sync", str(a))
    assert code == 3, err
    assert "host key" in err.lower()
    assert err.startswith("gitsync: ") and err.count("\n") == 1 and "Traceback" not in err
    head = git(a, "rev-parse", "HEAD").strip()
    tracking = git(a, "rev-parse", "origin/main").strip()
    files = files_of(a)
    # again: refused the same way, nothing more happens locally or on the hub
    code, _, err = run_cli("sync", str(a))
    assert code == 3 and "host key" in err.lower()
    assert git(a, "rev-parse", "HEAD").strip() == head
    assert git(a, "rev-parse", "origin/main").strip() == tracking == hub_tip
    assert files_of(a) == files
    assert (a / "notes.txt").read_text() == "edited while the host key is unknown\n"
    assert git(hub, "rev-parse", "main").strip() == hub_tip
    assert known_hosts.read_text() == trusted  # never accepted silently
    # a device cloning with the unknown key gets nothing either
    b = tmp_path / "B"
    code, _, err = run_cli("clone", url, str(b), "--device", "desktop")
    assert code == 3 and "host key" in err.lower()
    assert not b.exists()
