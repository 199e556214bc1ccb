"""The health verdict for scripts and monitors: pure rules, then `gitsync status --json`'s
exit code with no daemon, a healthy daemon, and an open conflict."""

from __future__ import annotations

import json
from pathlib import Path

from gitsync.health import judge
from tests.helpers import daemon, run_cli, run_proc, two_devices, wait_for

NOW = 1_800_000_000.0


def folder(**kw: object) -> dict[str, object]:
    return {"path": "/d", "state": "watching", "conflicts": 0, "skipped": [], **kw}


def test_rules() -> None:
    assert judge([folder()], daemon_running=True, now=NOW).status == "healthy"
    assert judge([], daemon_running=True, now=NOW).status == "healthy"
    assert judge([folder()], daemon_running=False, now=NOW).status == "not running"
    for bad in (folder(conflicts=2), folder(state="error", last_error="folder is missing"),
                folder(sync_stopped="the remote's history was rewritten"),
                folder(state="paused", state_reason="a merge is in progress"),
                folder(skipped=[{"path": "big.iso", "reason": "too large (5 > 1)"}]),
                folder(state="offline", offline_since=NOW - 3600)):
        h = judge([bad], daemon_running=True, now=NOW)
        assert h.status == "attention" and len(h.reasons) == 1, (bad, h)
    # a pause the user asked for, or a short time offline, needs nobody
    for fine in (folder(state="paused", state_reason="paused by you"),
                 folder(state="offline", offline_since=NOW - 60)):
        assert judge([fine], daemon_running=True, now=NOW).status == "healthy"


def test_status_json_exit_codes(tmp_path: Path) -> None:
    a, b, _hub, home_b = two_devices(tmp_path, {"t.txt": "one\ntwo\n"})
    r = run_proc("status", "--json")
    assert r.returncode == 3 and json.loads(r.stdout)["health"]["status"] == "not running"
    assert run_proc("status").returncode == 0  # the text view keeps exit 0
    with daemon(log=tmp_path / "a.log"):
        assert wait_for(lambda: run_proc("status", "--json").returncode == 0, 15)
        assert json.loads(run_proc("status", "--json").stdout)["health"] == {
            "status": "healthy", "reasons": []}
        (b / "t.txt").write_text("one\nTWO from desktop\n")
        assert run_cli("sync", str(b), home=home_b)[0] == 0
        (a / "t.txt").write_text("one\nTWO from laptop\n")
        assert run_cli("sync", str(a))[0] == 1  # the conflict, carried out by the daemon
        r = run_proc("status", "--json")
        assert r.returncode == 1, r.stdout
        assert "1 conflict(s) to settle" in " ".join(json.loads(r.stdout)["health"]["reasons"])
