"""Reads. The hot path of the API uses a constant number of queries, whatever the config size."""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.db import connection
from django.db.models import Q

from handoff.engine.routing import QueueState
from handoff.models import Handoff
from handoff.selectors.sql import aware_datetime


def _queue_states_sql() -> str:
    # Table and statuses come from the code, never from a request.
    statuses = ", ".join(f"'{status}'" for status in Handoff.WAITING)
    table = Handoff._meta.db_table
    where = f"WHERE status IN ({statuses}) GROUP BY queue_key, priority"
    return f"SELECT queue_key, priority, COUNT(*), MIN(queued_at) FROM {table} {where}"  # noqa: S608


_QUEUE_STATES_SQL = _queue_states_sql()
# A handoff that stops waiting leaves a dead entry in the waiting index until vacuum. A bitmap
# scan (what PostgreSQL picks for so few rows) visits each of them every time, so the query
# slows with every handoff served; an index scan marks them dead once and skips them after.
# SET LOCAL lasts for this one message (an implicit transaction); simple query protocol only.
_NO_BITMAP_SCAN = "SET LOCAL enable_bitmapscan = off; "


def _waiting_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if (
            connection.vendor == "postgresql"
            and not connection.in_atomic_block  # else it would last the caller's transaction
            and isinstance(raw, psycopg.ClientCursor)
        ):
            cursor.execute(_NO_BITMAP_SCAN + _QUEUE_STATES_SQL)
            raw.nextset()
        else:
            cursor.execute(_QUEUE_STATES_SQL)
        return cursor.fetchall()


def queue_states(now: datetime) -> dict[str, QueueState]:
    """Waiting count and longest wait per queue key, in one query.

    Written in SQL: every handoff the API takes reads it, and compiling the ORM's query cost
    as much as running it (docs/performance.md).
    """
    rows = _waiting_rows()
    by_queue: dict[str, list[tuple[int, int, datetime | None]]] = {}
    for queue_key, priority, waiting, oldest in rows:
        by_queue.setdefault(queue_key, []).append((priority, waiting, aware_datetime(oldest)))
    states = {}
    for key, parts in by_queue.items():
        oldest = min((p[2] for p in parts if p[2] is not None), default=None)
        states[key] = QueueState(
            waiting=sum(p[1] for p in parts),
            longest_wait_seconds=(now - oldest).total_seconds() if oldest else None,
            waiting_by_priority=tuple(sorted((p[0], p[1]) for p in parts)),
        )
    return states


def open_handoff(*, bot_id: int, conversation_id: str) -> Handoff | None:
    return (
        Handoff.objects.filter(
            bot_id=bot_id, conversation_id=conversation_id, status__in=Handoff.OPEN
        )
        .order_by("-created_at")
        .first()
    )


def queue_position(handoff: Handoff) -> int | None:
    """1 for the next to be served: priority first (lower is sooner), then arrival."""
    if handoff.status not in Handoff.WAITING or handoff.queued_at is None:
        return None
    ahead = Handoff.objects.filter(
        Q(priority__lt=handoff.priority)
        | Q(priority=handoff.priority, queued_at__lt=handoff.queued_at),
        status__in=Handoff.WAITING,
        queue_key=handoff.queue_key,
    ).count()
    return ahead + 1


# How much history an estimate needs (docs/api.md, "Estimated wait").
ESTIMATE_WINDOW = timedelta(hours=1)
ESTIMATE_MIN_SAMPLES = 5


# The served count changes slowly; each process keeps it a few seconds instead of counting an
# hour of handoffs on every request.
SERVED_CACHE_SECONDS = 5.0
_served: dict[str, tuple[float, int]] = {}


def served_last_hour(*, queue_key: str, now: datetime) -> int:
    cached = _served.get(queue_key)
    clock = time.monotonic()
    if cached is not None and clock - cached[0] < SERVED_CACHE_SECONDS:
        return cached[1]
    window = now - ESTIMATE_WINDOW
    served = Handoff.objects.filter(
        Q(assigned_at__gte=window) | Q(status=Handoff.Status.DELIVERED, closed_at__gte=window),
        queue_key=queue_key,
    ).count()
    _served[queue_key] = (clock, served)
    return served


def estimated_wait_seconds(*, queue_key: str, position: int | None, now: datetime) -> int | None:
    """Position divided by the rate at which the queue served work over the last hour."""
    if position is None:
        return None
    served = served_last_hour(queue_key=queue_key, now=now)
    if served < ESTIMATE_MIN_SAMPLES:
        return None
    seconds_per_handoff = ESTIMATE_WINDOW.total_seconds() / served
    return round(position * seconds_per_handoff)


@dataclass(frozen=True)
class Waiting:
    position: int | None  # 1 for the next to be served; None once no longer waiting
    estimated_wait_seconds: int | None  # None without enough recent history


def handoff_waiting(handoff: Handoff, *, now: datetime, position: int | None = None) -> Waiting:
    """Where the handoff stands in its queue (`position` when the caller already knows it)."""
    if position is None:
        position = queue_position(handoff)
    return Waiting(
        position=position,
        estimated_wait_seconds=estimated_wait_seconds(
            queue_key=handoff.queue_key, position=position, now=now
        ),
    )
