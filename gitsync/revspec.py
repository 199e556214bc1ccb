"""Reading the times users type for ``--rev``: ``2h``, ``3 days``, ``yesterday``, a date.

Pure: takes ``now`` and returns an epoch time, or None when the text is not a time (then it
is tried as a commit id).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_UNITS = {
    "s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
    "d": 86400, "day": 86400, "w": 7 * 86400, "week": 7 * 86400,
}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+?)s?(?:\s+ago)?$")


def parse_time(text: str, now: float) -> float | None:
    t = text.strip().lower()
    if t in ("now",):
        return now
    if t == "yesterday":
        return now - 86400
    m = _RELATIVE.match(t)
    if m and m.group(2) in _UNITS:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d"):
        try:
            dt = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            dt = dt + timedelta(days=1) - timedelta(seconds=1)  # that day, as it ended
        return dt.timestamp()
    return None
