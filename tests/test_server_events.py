"""``/api/events``: bus events as Server-Sent Events through a real uvicorn server, resumed
with ``Last-Event-ID``, kept alive, and ended cleanly when the server stops."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from gitsync.events import Event, EventBus
from gitsync.server.eventlog import EventLog
from gitsync.server.routes import events as events_route
from tests.web_helpers import BEARER, live_server


def read_event(lines: Iterator[str]) -> dict[str, str]:
    """The next event block's fields (comments skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                return fields
            fields = {}  # a block without data (the retry hint) is no event
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = fields.get(name, "") + value
    raise AssertionError("stream ended")


def wait_connected(lines: Iterator[str]) -> None:
    for line in lines:
        if line == ": connected":
            return
    raise AssertionError("stream ended before it started")


def test_a_published_event_arrives_and_a_reconnect_resumes_after_last_event_id() -> None:
    bus = EventBus()
    with live_server(bus) as srv, httpx.Client(
            base_url=f"http://127.0.0.1:{srv.port}", headers=BEARER, timeout=10) as h:
        with h.stream("GET", "/api/events") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            wait_connected(lines)
            bus.publish(Event("committed", "Docs-1", "laptop edited <b>report</b>.docx",
                              data={"paths": ["report.docx"]}))
            first = read_event(lines)
        assert first["event"] == "committed"
        doc = json.loads(first["data"])
        assert doc["message"] == "laptop edited <b>report</b>.docx"
        assert doc["folder"] == "Docs-1" and doc["data"] == {"paths": ["report.docx"]}
        first_id = int(first["id"])

        # Missed while away: three more events, then a reconnect with the last id seen.
        for n in range(3):
            bus.publish(Event("pushed", "Docs-1", f"pushed {n}"))
        with h.stream("GET", "/api/events",
                      headers={"Last-Event-ID": str(first_id)}) as r:
            lines = r.iter_lines()
            missed = [read_event(lines) for _ in range(3)]
        assert [json.loads(m["data"])["message"] for m in missed] == [
            "pushed 0", "pushed 1", "pushed 2"]
        ids = [int(m["id"]) for m in missed]
        assert ids == sorted(ids) and ids[0] > first_id and len(set(ids)) == 3

        # A new page (no Last-Event-ID) asks for every kept event with the query form.
        with h.stream("GET", "/api/events?last_event_id=0") as r:
            lines = r.iter_lines()
            kept = [read_event(lines) for _ in range(4)]
        assert [int(k["id"]) for k in kept] == [first_id, *ids]


def test_idle_streams_get_keep_alive_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "KEEPALIVE_S", 0.2)
    with live_server() as srv, httpx.Client(
            base_url=f"http://127.0.0.1:{srv.port}", headers=BEARER, timeout=10) as h, \
            h.stream("GET", "/api/events") as r:
        lines = r.iter_lines()
        wait_connected(lines)
        start = time.monotonic()
        assert next(line for line in lines if line) == ": keep-alive"
        assert time.monotonic() - start < 5


def test_stopping_the_server_ends_open_streams_and_leaves_no_thread() -> None:
    got: list[str] = []
    opened = threading.Event()

    def listen(port: int) -> None:
        with httpx.Client(headers=BEARER, timeout=30) as h, \
                h.stream("GET", f"http://127.0.0.1:{port}/api/events") as r:
            for line in r.iter_lines():
                if line == ": connected":
                    opened.set()
                got.append(line)

    with live_server() as srv:
        reader = threading.Thread(target=listen, args=(srv.port,))
        reader.start()
        assert opened.wait(10)
        start = time.monotonic()
        srv.stop()
        stopped_in = time.monotonic() - start
    reader.join(10)
    assert not reader.is_alive(), "the client's stream did not end"
    assert not srv.thread.is_alive()
    assert stopped_in < 3, f"stop took {stopped_in:.1f} s"


def test_the_ring_keeps_the_last_500_with_increasing_ids() -> None:
    bus = EventBus()
    log = EventLog(bus)
    for n in range(600):
        bus.publish(Event("committed", "f", f"e{n}"))
    kept = log.since(0)
    assert len(kept) == 500
    assert [e.message for _, e in kept] == [f"e{n}" for n in range(100, 600)]
    ids = [i for i, _ in kept]
    assert ids == sorted(set(ids))
    assert log.since(ids[-1]) == [] and log.since(ids[-2]) == [kept[-1]]
    log.close()
    bus.publish(Event("committed", "f", "after close"))
    assert log.since(ids[-1]) == []  # unsubscribed


def test_ids_of_a_later_server_are_above_an_earlier_ones() -> None:
    bus = EventBus()
    first = EventLog(bus)
    for _ in range(50):
        bus.publish(Event("committed", "f", "x"))
    first.close()
    second = EventLog(bus)
    bus.publish(Event("committed", "f", "y"))
    assert second.since(first.last_id())[0][1].message == "y"
    second.close()


def test_event_data_that_json_cannot_encode_is_sent_as_text() -> None:
    from pathlib import Path

    text = events_route.format_event(1, Event("committed", "f", "m",
                                              data={"path": Path("/x/y"), "when": {1, 2}}))
    data = json.loads(text.split("data: ", 1)[1])
    assert data["data"]["path"] == "/x/y"


def test_an_event_kind_cannot_forge_fields() -> None:
    text = events_route.format_event(7, Event("x\ndata: forged\n\nid: 1", "f", "m"))
    assert text.count("\n\n") == 1 and text.endswith("\n\n")
    assert "\nid: 1" not in text
