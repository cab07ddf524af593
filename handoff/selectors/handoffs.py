"""Reads. The hot path of the API uses a constant number of queries, whatever the config size."""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock
from typing import Any

from django.db.models import Count, Min, Q

from handoff.engine.routing import QueueState
from handoff.models import ConfigVersion, Handoff

WAITING = ("queued", "offered")


@dataclass(frozen=True)
class Snapshot:
    version_id: int
    number: int
    document: dict[str, Any]
    channels: dict[str, dict[str, Any]]
    bots: dict[str, dict[str, Any]]
    topics: dict[str, dict[str, Any]]
    topics_by_name: dict[str, dict[str, Any]]
    queues: dict[str, dict[str, Any]]


# Keyed by (pk, created_at): a test database that was flushed may reuse a pk for another version.
_snapshots: dict[tuple[int, datetime], Snapshot] = {}
_snapshots_lock = Lock()


def _build_snapshot(version: ConfigVersion) -> Snapshot:
    doc = version.document
    topics = {t["key"]: t for t in doc.get("topics", [])}
    return Snapshot(
        version_id=version.pk,
        number=version.number,
        document=doc,
        channels={c["key"]: c for c in doc.get("channels", [])},
        bots={b["key"]: b for b in doc.get("bots", [])},
        topics=topics,
        topics_by_name={t["name"].casefold(): t for t in topics.values()},
        queues={q["key"]: q for q in doc.get("queues", [])},
    )


def published_snapshot() -> Snapshot | None:
    """The latest published configuration. Versions are immutable, so each is parsed once."""
    latest = ConfigVersion.objects.order_by("-number").values_list("pk", "created_at").first()
    if latest is None:
        return None
    snapshot = _snapshots.get(latest)
    if snapshot is None:
        version = ConfigVersion.objects.get(pk=latest[0])
        snapshot = _build_snapshot(version)
        with _snapshots_lock:
            if len(_snapshots) > 16:
                _snapshots.clear()
            _snapshots[latest] = snapshot
    return snapshot


def queue_states(now: datetime) -> dict[str, QueueState]:
    """Waiting count and longest wait per queue key, in one query."""
    rows = (
        Handoff.objects.filter(status__in=WAITING)
        .values("queue_key", "priority")
        .annotate(waiting=Count("pk"), oldest=Min("queued_at"))
        .order_by()
    )
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_queue.setdefault(row["queue_key"], []).append(dict(row))
    states = {}
    for key, parts in by_queue.items():
        oldest = min((p["oldest"] for p in parts if p["oldest"]), default=None)
        states[key] = QueueState(
            waiting=sum(p["waiting"] for p in parts),
            longest_wait_seconds=(now - oldest).total_seconds() if oldest else None,
            waiting_by_priority=tuple(sorted((p["priority"], p["waiting"]) for p in parts)),
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
    if handoff.status not in WAITING or handoff.queued_at is None:
        return None
    ahead = Handoff.objects.filter(
        Q(priority__lt=handoff.priority)
        | Q(priority=handoff.priority, queued_at__lt=handoff.queued_at),
        status__in=WAITING,
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
        Q(assigned_at__gte=window) | Q(status="delivered", closed_at__gte=window),
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
