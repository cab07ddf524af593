"""For the few statements of the API's hot path written in SQL: a prepared cursor, and what the
ORM's converters would do."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime


def aware_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime column as the ORM would return it: SQLite hands back naive UTC, and text for
    an aggregate or a column seen through a derived table."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None and settings.USE_TZ:
        value = value.replace(tzinfo=UTC)
    return value


class _PreparingCursor(psycopg.Cursor):
    """Every statement prepared: PostgreSQL parses and plans it once per connection."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True, **kwargs)


# Only what asks to be prepared is: Django's own cursors bind on the client and never prepare.
EXPLICIT_ONLY = 2**31 - 1


@contextmanager
def hot_cursor() -> Iterator[Any]:
    """A cursor for the statements every new handoff runs (the key, the insert), prepared on
    PostgreSQL: planning them cost a fifth of the database's time.

    HANDOFF_DB_PREPARE=0 turns this off, for a PgBouncer older than 1.21 in transaction
    mode (it cannot keep prepared statements; 1.21 and later can, with max_prepared_statements).
    """
    # Where Django records queries (DEBUG, a test counting them) they are not prepared: psycopg
    # does not keep a prepared statement's text for the record to show.
    prepare = settings.HANDOFF_DB_PREPARE and not connection.queries_logged
    if connection.vendor != "postgresql" or not prepare:
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = EXPLICIT_ONLY
    with connection.wrap_database_errors:
        preparing = _PreparingCursor(raw)
    with connection.make_cursor(preparing) as wrapped:  # type: ignore[arg-type]
        yield wrapped
