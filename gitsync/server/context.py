"""What every route and page reaches through ``request.app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitsync.events import EventBus

if TYPE_CHECKING:
    from gitsync.service import Service

# web/ beside the package in a checkout (templates and static files, no build step).
WEB_DIR = Path(__file__).resolve().parents[2] / "web"


@dataclass
class ServerContext:
    service: Service
    bus: EventBus
    token: str
    port: int
    web_dir: Path = WEB_DIR
    # Extra host names the Host header may carry (the --listen address); the loopback
    # names at PORT are always allowed.
    extra_hosts: tuple[str, ...] = field(default=())
