"""Which events become desktop notices, and how bursts are gathered (fake clock)."""

from __future__ import annotations

import pytest

from gitsync.config import folder_key, parse_setting
from gitsync.desktop import (
    Notifier,
    NotifyUnavailable,
    macos_command,
    send_freedesktop,
    windows_command,
)
from gitsync.events import Event
from gitsync.notices import Notice, Notices
from tests.helpers import wait_for

FOLDER = "/home/me/Documents"
KEY = folder_key(FOLDER)


def conflict(i: int = 1, folder: str = FOLDER) -> Event:
    return Event("conflict", folder, f"f{i}.txt: edited on desktop too", needs_user=True,
                 data={"conflict": {"id": f"c{i}", "path": f"f{i}.txt"}})


def notices(**kw: float) -> Notices:
    return Notices(port=8484, offline_after=kw.pop("offline_after", 600.0), **kw)


def test_one_conflict_is_one_notice_with_its_page() -> None:
    n = notices()
    n.feed(conflict(7), now=100.0)
    assert n.due(101.0) == []  # still gathering the burst
    [notice] = n.due(103.0)
    assert notice.summary == "Conflict in Documents"
    assert notice.link == f"http://127.0.0.1:8484/folders/{KEY}/conflicts/c7"
    assert "f7.txt: edited on desktop too" in notice.body
    assert notice.body.endswith(notice.link)
    assert n.due(200.0) == []


def test_a_burst_of_conflicts_is_one_notice_pointing_at_the_list() -> None:
    n = notices()
    for i in range(10):
        n.feed(conflict(i), now=100.0 + i * 0.1)
    [notice] = n.due(104.0)
    assert notice.summary == "10 conflicts in Documents"
    assert notice.link == "http://127.0.0.1:8484/conflicts"
    assert "f0.txt, f1.txt, f2.txt and 7 more" in notice.body


def test_the_same_conflict_reported_again_is_not_told_again() -> None:
    n = notices()
    n.feed(conflict(1), now=0.0)
    assert len(n.due(5.0)) == 1
    n.feed(conflict(1), now=50.0)
    assert n.due(100.0) == []


def test_a_kind_told_lately_waits_for_the_cooldown() -> None:
    n = notices(cooldown=30.0)
    n.feed(conflict(1), now=0.0)
    assert len(n.due(3.0)) == 1
    n.feed(conflict(2), now=10.0)
    n.feed(conflict(3), now=20.0)
    assert n.due(20.0) == []
    [notice] = n.due(33.0)
    assert notice.summary == "2 conflicts in Documents"


def test_folders_are_told_apart() -> None:
    n = notices()
    n.feed(conflict(1), now=0.0)
    n.feed(conflict(2, folder="/home/me/Photos"), now=0.0)
    assert sorted(x.summary for x in n.due(3.0)) == ["Conflict in Documents",
                                                      "Conflict in Photos"]


def test_offline_is_told_only_after_the_setting_and_once() -> None:
    n = notices(offline_after=600.0)
    n.feed(Event("offline", FOLDER, "fetch failed: host unreachable"), now=0.0)
    n.feed(Event("offline", FOLDER, "fetch failed again"), now=100.0)
    assert n.due(590.0) == []
    assert n.next_due() == 600.0
    [notice] = n.due(605.0)
    assert notice.summary == "Documents is offline"
    assert "over 10 min" in notice.body and "host unreachable" in notice.body
    short = notices(offline_after=30.0)
    short.feed(Event("offline", FOLDER, "fetch failed"), now=0.0)
    assert "over 30 s" in short.due(30.0)[0].body
    assert notice.link == f"http://127.0.0.1:8484/folders/{KEY}"
    assert n.due(5000.0) == []


def test_back_online_in_time_is_no_news() -> None:
    n = notices(offline_after=600.0)
    n.feed(Event("offline", FOLDER, "fetch failed"), now=0.0)
    n.feed(Event("online", FOLDER, "reconnected"), now=300.0)
    assert n.due(1000.0) == []


@pytest.mark.parametrize("event, summary", [
    (Event("sync-stopped", FOLDER, "the remote's history was rewritten", needs_user=True),
     "Documents stopped syncing"),
    (Event("paused", FOLDER, "paused: a rebase is in progress", needs_user=True),
     "Documents stopped syncing"),
    (Event("skipped", FOLDER, "big.iso not synced: 3 GB", needs_user=True,
           data={"path": "big.iso"}), "A file too large to sync in Documents"),
    (Event("error", FOLDER, "inotify watch limit reached; scanning every 30 s",
           needs_user=True), "Documents needs attention"),
])
def test_what_stops_a_folder_is_told(event: Event, summary: str) -> None:
    n = notices()
    n.feed(event, now=0.0)
    [notice] = n.due(3.0)
    assert notice.summary == summary
    assert notice.link == f"http://127.0.0.1:8484/folders/{KEY}"
    assert notice.body.endswith(notice.link)


def test_everyday_events_are_not_told() -> None:
    n = notices()
    for e in (Event("committed", FOLDER, "a.txt"), Event("pushed", FOLDER, "pushed"),
              Event("paused", FOLDER, "paused: paused by you"),  # the user's own pause
              Event("resumed", FOLDER, "resumed")):
        n.feed(e, now=0.0)
    assert n.due(100.0) == []


def test_settings() -> None:
    assert parse_setting("notify", "false") is False
    assert parse_setting("notify", True) is True
    assert parse_setting("notify_offline_after", "60") == 60.0


NOTICE = Notice("conflict", FOLDER, 'Conflict in "Docs"', "a.txt: it's\nSettle it: http://x/1",
                "http://x/1")


def test_macos_command_quotes_the_text() -> None:
    cmd = macos_command(NOTICE)
    assert cmd[:2] == ["osascript", "-e"]
    assert cmd[2].startswith("display notification ")
    assert 'subtitle "Conflict in \\"Docs\\""' in cmd[2]


def test_windows_command_is_a_hidden_powershell_toast() -> None:
    cmd = windows_command(NOTICE)
    assert cmd[0] == "powershell" and "-WindowStyle" in cmd and "Hidden" in cmd
    script = cmd[-1]
    assert "ToastNotificationManager" in script
    assert "'a.txt: it''s" in script  # PowerShell's single-quote escaping
    assert "CreateToastNotifier('gitsync')" in script


def test_notifier_without_a_service_logs_once_and_keeps_going(caplog) -> None:
    sent: list[Notice] = []

    def unavailable(notice: Notice) -> None:
        sent.append(notice)
        raise NotifyUnavailable("no session bus")

    clock = [0.0]
    notifier = Notifier(notices(window=0.0, cooldown=0.0), send=unavailable,
                        clock=lambda: clock[0])
    caplog.set_level("INFO", logger="gitsync.desktop")
    notifier.start()
    try:
        notifier(conflict(1))
        notifier(conflict(2, folder="/home/me/Photos"))
        assert wait_for(lambda: len(sent) == 2, timeout=5)
    finally:
        notifier.stop()
    lines = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "INFO"


def test_no_session_bus_is_unavailable_not_a_crash(tmp_path) -> None:
    with pytest.raises(NotifyUnavailable, match="no session bus"):
        send_freedesktop(NOTICE)  # the sealed environment has no bus address
    with pytest.raises(NotifyUnavailable, match="no session bus"):
        send_freedesktop(NOTICE, address=f"unix:path={tmp_path}/nobody-listens")
