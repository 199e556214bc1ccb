"""``GET /api/events``: the event bus as Server-Sent Events, resumable with ``Last-Event-ID``.

Each event is ``id: N``, ``event: KIND``, ``data: {Event.to_json()}``. A client that comes
back with ``Last-Event-ID`` (browsers do it on their own after a drop) gets what it missed,
as far as the last 500 events reach. A first connection gets only new events, unless it asks
for the kept ones with ``?last_event_id=0`` (an EventSource cannot set the header itself).
A comment line every 15 s keeps idle connections open through anything in between.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from gitsync.events import Event
from gitsync.server.eventlog import EventLog
from gitsync.server.routes import ERRORS

router = APIRouter(prefix="/api", tags=["events"], responses=ERRORS)

KEEPALIVE_S = 15.0


def format_event(event_id: int, event: Event) -> str:
    # default=str: a publisher's data may hold a Path or the like; the stream must not break.
    data = json.dumps(event.to_json(), ensure_ascii=False, default=str)
    # One data line per line of JSON; json.dumps without indent has none, but a kind with a
    # newline in it must not be able to forge a field.
    kind = "".join(c for c in event.kind if c not in "\r\n")
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"id: {event_id}\nevent: {kind}\n{lines}\n"


def _start_id(log: EventLog, header: str | None, query: int | None) -> int:
    for value in (header, query):
        if value is None:
            continue
        try:
            return int(value)
        except ValueError:
            continue
    return log.last_id()


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "a stream of events"}})
async def events(request: Request,
                 last_event_id: Annotated[str | None, Header()] = None,
                 since: Annotated[int | None, Query(
                     alias="last_event_id",
                     description="resume after this id (0: every kept event)")] = None
                 ) -> StreamingResponse:
    log: EventLog = request.app.state.events
    start = _start_id(log, last_event_id, since)

    async def stream() -> AsyncIterator[str]:
        last = start
        yield "retry: 2000\n: connected\n\n"
        while not log.closed:
            found = await log.wait(last, KEEPALIVE_S)
            if not found:
                if log.closed:
                    return
                yield ": keep-alive\n\n"
                continue
            for event_id, event in found:
                last = event_id
                yield format_event(event_id, event)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
