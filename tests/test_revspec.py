from datetime import datetime

import pytest

from gitsync.revspec import parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("text", "ago"), [
    ("2h", 7200), ("2 hours", 7200), ("30m", 1800), ("3 days ago", 3 * 86400), ("1w", 604800),
    ("yesterday", 86400), ("now", 0), ("45s", 45),
])
def test_relative_times(text: str, ago: float) -> None:
    assert parse_time(text, NOW) == NOW - ago


def test_dates() -> None:
    assert parse_time("2026-11-01 10:30", NOW) == datetime(2026, 11, 1, 10, 30).timestamp()
    # a bare date means "as that day ended"
    assert parse_time("2026-11-01", NOW) == datetime(2026, 11, 1, 23, 59, 59).timestamp()


@pytest.mark.parametrize("text", ["abc123", "HEAD~2", "2x", "", "deadbeef"])
def test_non_times_are_left_for_commit_ids(text: str) -> None:
    assert parse_time(text, NOW) is None
