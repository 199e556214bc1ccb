"""Desktop notifications: the daemon's notices shown by the platform's own service.

Best effort by promise: a missing bus, service or command is one INFO log line, never an
exception and never a blocked worker. Events are queued by the bus subscriber (quick, on
the worker's thread) and turned into notices and sent from one background thread.

Linux: ``org.freedesktop.Notifications.Notify`` on the session D-Bus (jeepney, pure
Python). macOS: ``osascript``'s ``display notification``. Windows: a PowerShell toast.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from gitsync.events import Event
from gitsync.notices import Notice, Notices

logger = logging.getLogger(__name__)

APP_NAME = "gitsync"
SEND_TIMEOUT_S = 5.0
TICK_S = 0.5

Sender = Callable[[Notice], None]


class NotifyUnavailable(Exception):
    """No notification service answered; the reason is the message."""


def send_freedesktop(notice: Notice, *, address: str = "SESSION") -> None:
    """One Notify call on the session bus (or ADDRESS); raises NotifyUnavailable."""
    from jeepney import DBusAddress, MessageType, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    target = DBusAddress("/org/freedesktop/Notifications",
                         bus_name="org.freedesktop.Notifications",
                         interface="org.freedesktop.Notifications")
    hints = {"urgency": ("y", 1), "category": ("s", "transfer"),
             "x-gitsync-link": ("s", notice.link)}
    msg = new_method_call(target, "Notify", "susssasa{sv}i",
                          (APP_NAME, 0, "", notice.summary, notice.body, [], hints, -1))
    try:
        conn = open_dbus_connection(bus=address)
    except (OSError, KeyError, ValueError) as e:  # KeyError: no DBUS_SESSION_BUS_ADDRESS
        raise NotifyUnavailable(f"no session bus ({e})") from e
    try:
        reply = conn.send_and_get_reply(msg, timeout=SEND_TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        raise NotifyUnavailable(f"the notification service did not answer ({e})") from e
    finally:
        conn.close()
    if reply.header.message_type == MessageType.error:
        raise NotifyUnavailable(f"no notification service on the session bus ({reply.body})")


def _applescript_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def macos_command(notice: Notice) -> list[str]:
    script = (f"display notification {_applescript_string(notice.body)} "
              f"with title {_applescript_string(APP_NAME)} "
              f"subtitle {_applescript_string(notice.summary)}")
    return ["osascript", "-e", script]


def _ps_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def windows_command(notice: Notice) -> list[str]:
    """A toast through the WinRT API that PowerShell 5 ships with; the link opens on click."""
    xml = ("<toast activationType=\"protocol\" launch=\"{link}\"><visual>"
           "<binding template=\"ToastGeneric\"><text>{summary}</text><text>{body}</text>"
           "</binding></visual></toast>")
    script = "; ".join([
        "[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, "
        "ContentType = WindowsRuntime] > $null",
        "[Windows.Data.Xml.Dom.XmlDocument, Windows.Data.Xml.Dom, "
        "ContentType = WindowsRuntime] > $null",
        "$x = New-Object Windows.Data.Xml.Dom.XmlDocument",
        f"$t = {_ps_string(xml)}",
        "$e = [System.Security.SecurityElement]",
        f"$x.LoadXml($t.Replace('{{link}}', $e::Escape({_ps_string(notice.link)}))"
        f".Replace('{{summary}}', $e::Escape({_ps_string(notice.summary)}))"
        f".Replace('{{body}}', $e::Escape({_ps_string(notice.body)})))",
        "$n = [Windows.UI.Notifications.ToastNotification]::new($x)",
        f"[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier("
        f"{_ps_string(APP_NAME)}).Show($n)",
    ])
    return ["powershell", "-NoProfile", "-NonInteractive", "-WindowStyle", "Hidden",
            "-Command", script]


def _run_command(cmd: list[str]) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=SEND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NotifyUnavailable(f"{cmd[0]} failed ({e})") from e
    if done.returncode != 0:
        raise NotifyUnavailable(f"{cmd[0]} exited {done.returncode}: {done.stderr.strip()}")


def platform_sender(platform: str = sys.platform) -> Sender:
    if platform == "darwin":
        return lambda n: _run_command(macos_command(n))
    if platform.startswith("win"):
        return lambda n: _run_command(windows_command(n))
    return send_freedesktop


class Notifier:
    """Subscribes to the daemon's events and shows what needs the user, from its own thread."""

    def __init__(self, notices: Notices, send: Sender | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.notices = notices
        self.send = send or platform_sender()
        self.clock = clock
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._said_unavailable = False

    def __call__(self, event: Event) -> None:
        self._queue.put(event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=SEND_TIMEOUT_S + 2)
            self._thread = None

    def _serve(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=TICK_S)
            except queue.Empty:
                pass
            else:
                if event is None:
                    return
                self.notices.feed(event, self.clock())
            for notice in self.notices.due(self.clock()):
                self._send(notice)

    def _send(self, notice: Notice) -> None:
        try:
            self.send(notice)
        except NotifyUnavailable as e:
            if not self._said_unavailable:  # once: the log is not a notification channel
                logger.info("desktop notifications unavailable: %s", e)
                self._said_unavailable = True
            return
        except Exception:
            logger.exception("desktop notification failed")
            return
        logger.info("notified: %s", notice.summary)
