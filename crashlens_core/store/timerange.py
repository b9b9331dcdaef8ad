"""The time range a person explores: presets relative to the newest data, custom, an incident's window.

Presets ("last 1 h") count back from the newest record in the workspace, not from the wall
clock: imported data is usually hours or years old (the demo is from 2024), and a range that
held nothing would be useless. The range is written in a URL as ``range=1h`` or as
``from=ISO&to=ISO`` (custom), or ``range=incident&pad=N`` (the incident's window ± N minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["PRESETS", "TimeRange", "data_extent", "resolve_range"]

PRESETS: dict[str, tuple[str, timedelta | None]] = {
    "15m": ("Last 15 min", timedelta(minutes=15)),
    "1h": ("Last 1 h", timedelta(hours=1)),
    "6h": ("Last 6 h", timedelta(hours=6)),
    "24h": ("Last 24 h", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "all": ("All data", None),
}
_END_PAD = timedelta(microseconds=1)  # ranges are [start, end): the newest record itself is inside


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in naive UTC, or both None (no data at all); ``key`` is how it was chosen."""
    key: str                      # a PRESETS key, "custom" or "incident"
    start: datetime | None
    end: datetime | None
    label: str

    @property
    def bounded(self) -> bool:
        return self.start is not None and self.end is not None

    @property
    def is_everything(self) -> bool:
        return self.key == "all"


def data_extent(ws: Workspace) -> tuple[datetime | None, datetime | None]:
    """The oldest and newest timestamp over logs, spans and metrics (None, None when empty)."""
    row = ws.con.execute(
        """SELECT min(lo), max(hi) FROM (
             SELECT min(ts) AS lo, max(ts) AS hi FROM logs
             UNION ALL SELECT min(start_ts), max(start_ts) FROM spans
             UNION ALL SELECT min(ts), max(ts) FROM metrics)""").fetchall()[0]
    return row[0], row[1]


def resolve_range(key: str, oldest: datetime | None, newest: datetime | None, *, start: datetime | None = None,
                  end: datetime | None = None, incident_window: tuple[datetime, datetime] | None = None,
                  pad_min: float = 0) -> TimeRange:
    """The concrete ``[start, end)`` of a choice.

    >>> r = resolve_range("1h", datetime(2024, 5, 14, 8), datetime(2024, 5, 14, 10, 30))
    >>> r.start, r.label
    (datetime.datetime(2024, 5, 14, 9, 30), 'Last 1 h')
    """
    if key in PRESETS:
        label, length = PRESETS[key]
        if newest is None:
            return TimeRange(key, None, None, label)
        hi = newest + _END_PAD
        # clipped to the oldest record: bars before any data would only push the data into a corner
        lo = oldest if length is None else newest - length if oldest is None else max(oldest, newest - length)
        return TimeRange(key, lo, hi, label)
    if key == "custom":
        if start is None or end is None:
            raise InputError("a custom time range needs both a start and an end",
                             hint="give from and to as ISO 8601 times, e.g. from=2024-05-14T10:00:00&to=2024-05-14T11:00:00")
        if end <= start:
            raise InputError(f"the time range ends ({end:%Y-%m-%d %H:%M:%S}) before it starts ({start:%Y-%m-%d %H:%M:%S})",
                             hint="swap from and to, or pick a preset")
        return TimeRange("custom", start, end, f"{start:%Y-%m-%d %H:%M:%S} – {end:%Y-%m-%d %H:%M:%S}")
    if key == "incident":
        if incident_window is None:
            raise InputError("the incident's window needs a selected incident with a time window",
                             hint="select an incident (?incident=ID) or pick another range")
        pad = timedelta(minutes=max(float(pad_min), 0.0))
        lo, hi = incident_window[0] - pad, incident_window[1] + pad
        return TimeRange("incident", lo, hi, f"Incident window ± {pad_min:g} min" if pad_min else "Incident window")
    raise InputError(f"unknown time range {key!r}",
                     hint="one of " + ", ".join([*PRESETS, "custom", "incident"]))
