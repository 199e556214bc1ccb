"""Noticing that the network changed: an interface came up or went down, the default route
moved. While a folder is offline its worker looks at this each tick and retries at once
when it changes, instead of waiting out a backoff of up to a minute.

Linux: the interfaces' states in /sys/class/net and the routing table in /proc/net/route,
read as a fingerprint (cheap: a few small files). Elsewhere: None, and only the backoff
applies.
"""

from __future__ import annotations

from pathlib import Path

SYS_NET = Path("/sys/class/net")
ROUTES = Path("/proc/net/route")


def network_fingerprint(sys_net: Path = SYS_NET, routes: Path = ROUTES) -> str | None:
    """A string that changes when the machine's network does; None where unknown."""
    try:
        names = sorted(p.name for p in sys_net.iterdir())
    except OSError:
        return None
    parts = []
    for name in names:
        try:
            state = (sys_net / name / "operstate").read_text().strip()
        except OSError:
            state = "?"
        parts.append(f"{name}={state}")
    try:
        # the routes themselves, not their use counters (the table's columns 1-3, 7)
        for line in routes.read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 8:
                parts.append(" ".join((cols[0], cols[1], cols[2], cols[7])))
    except OSError:
        pass
    return "\n".join(parts)
