"""Queue operating hours: weekly windows and closed dates in the queue's time zone.

Everything is judged on the local wall clock of the queue's zone (zoneinfo), so a 09:00-17:00
window stays 09:00-17:00 local across daylight-saving changes. A window is [start, end): open at
09:00:00, closed at 17:00:00. "24:00" is allowed as an end only and means the end of the day, so
an overnight shift is two windows: mon ["22:00", "24:00"] and tue ["00:00", "06:00"].
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _minutes(text: str) -> int | None:
    try:
        hours, minutes = text.split(":")
        value = int(hours) * 60 + int(minutes)
    except (ValueError, AttributeError):
        return None
    return value if 0 <= value <= 24 * 60 else None


@dataclass(frozen=True)
class Hours:
    timezone_name: str
    zone: ZoneInfo | None
    # Per weekday (0 = Monday): [(start second, end second, "09:00-17:00")].
    weekly: tuple[tuple[tuple[int, int, str], ...], ...]
    closed_dates: frozenset[str]


def compile_hours(raw: object) -> Hours | None:
    """None means always open."""
    if not isinstance(raw, dict):
        return None
    name = raw.get("timezone")
    name = name if isinstance(name, str) else "UTC"
    zone: ZoneInfo | None
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        zone = None
    weekly_raw = raw.get("weekly")
    weekly_raw = weekly_raw if isinstance(weekly_raw, dict) else {}
    weekly = []
    for day in WEEKDAYS:
        windows = []
        for window in weekly_raw.get(day) or ():
            if not isinstance(window, list | tuple) or len(window) != 2:
                continue
            start, end = _minutes(window[0]), _minutes(window[1])
            if start is None or end is None or start >= end:
                continue
            windows.append((start * 60, end * 60, f"{window[0]}-{window[1]}"))
        weekly.append(tuple(sorted(windows)))
    dates = raw.get("closed_dates")
    closed = (
        frozenset(d for d in dates if isinstance(d, str))
        if isinstance(dates, list)
        else frozenset()
    )
    return Hours(timezone_name=name, zone=zone, weekly=tuple(weekly), closed_dates=closed)


def check_hours(hours: Hours | None, now: datetime) -> tuple[bool, str]:
    """Whether the queue is open at `now`, and why, in words."""
    if hours is None:
        return True, "no operating hours set: always open"
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    zone_note = ""
    if hours.zone is None:
        # Publish validation checks the zone; a zone missing from this machine reads as UTC.
        zone_note = f" (time zone {hours.timezone_name} unknown here, using UTC)"
        local = now.astimezone(UTC)
    else:
        local = now.astimezone(hours.zone)
    day = local.weekday()
    stamp = (
        f"{DAY_NAMES[day]} {local.date().isoformat()} {local.strftime('%H:%M')} "
        f"{hours.timezone_name}{zone_note}"
    )
    if local.date().isoformat() in hours.closed_dates:
        return False, f"closed: {local.date().isoformat()} is a closed date ({stamp})"
    windows = hours.weekly[day]
    if not windows:
        return False, f"closed: no hours on {DAY_NAMES[day]} ({stamp})"
    second = local.hour * 3600 + local.minute * 60 + local.second
    for start, end, label in windows:
        if start <= second < end:
            return True, f"open: {stamp} is within {label}"
    labels = ", ".join(label for _, _, label in windows)
    return False, f"closed: {stamp} is outside {labels}"
