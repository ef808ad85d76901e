"""The report's time buckets: picking hours or days, listing every key, labelling them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from llmguard.cli._errors import CommandError

Unit = Literal["day", "hour"]

# Below this span of data, "auto" charts by the hour.
_HOURLY_BELOW = timedelta(days=3)
# More buckets than this make a page nobody can read; ask for a coarser unit instead.
_MAX_BUCKETS = 1000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_KEY_FORMAT = {"day": "%Y-%m-%d", "hour": "%Y-%m-%dT%H:00"}


def parse_time(iso: str) -> datetime:
    """A record's ISO 8601 time (``Z`` or an offset) as an aware datetime."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def when(iso: str) -> str:
    """An ISO 8601 time to the minute as the page shows it: ``2024-05-01 13:45``."""
    return iso[:16].replace("T", " ")


def auto_unit(first: str, last: str) -> Unit:
    """Hours when the calls from ``first`` to ``last`` span less than three days, else days."""
    return "hour" if parse_time(last) - parse_time(first) < _HOURLY_BELOW else "day"


def bucket_keys(first: str, last: str, unit: Unit) -> list[str]:
    """Every bucket key from the first call's to the last's, empty ones included.

    Raises:
        CommandError: More buckets than a chart can show.
    """
    key = _KEY_FORMAT[unit]
    step = timedelta(days=1) if unit == "day" else timedelta(hours=1)
    at = datetime.strptime(parse_time(first).strftime(key), key)
    end = datetime.strptime(parse_time(last).strftime(key), key)
    count = int((end - at) / step) + 1
    if count > _MAX_BUCKETS:
        raise CommandError(
            f"{count:,} {unit}s of calls are too many to chart; "
            "use --bucket day or a narrower --since/--until"
        )
    return [(at + step * i).strftime(key) for i in range(count)]


def axis_label(key: str) -> str:
    """A bucket key as an x-axis label: ``1 May`` for a day or midnight, else ``13h``."""
    day = f"{int(key[8:10])} {_MONTHS[int(key[5:7]) - 1]}"
    if len(key) == 10 or key.endswith("T00:00"):
        return day
    return f"{key[11:13]}h"


def bucket_name(key: str) -> str:
    """A bucket key spelled out for a hover: ``Wed 2024-05-01`` or ``… UTC, the hour after``."""
    if len(key) == 10:
        return f"{datetime.strptime(key, '%Y-%m-%d').strftime('%a')} {key}"
    return f"{key.replace('T', ' ')} UTC, the hour after"
