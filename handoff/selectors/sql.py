"""What the ORM's converters do, for the few hot-path reads written in SQL."""

from datetime import UTC, datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime


def aware_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime column as the ORM would return it: SQLite hands back naive UTC, and text for
    an aggregate or a column seen through a derived table."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None and settings.USE_TZ:
        value = value.replace(tzinfo=UTC)
    return value
