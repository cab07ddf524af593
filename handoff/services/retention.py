"""Data retention: what customers said is purged from closed handoffs after a while.

After HANDOFF_RETENTION_DAYS (0 keeps everything), a terminal handoff loses its transcript,
context, variables, customer details, agent message, wrap-up and customer-facing message, the
text in its events' details, and the state of the conversations that led to it. The numbers
and times (status, queue, rule, reason, topic, channel, priority, timestamps, attempts) stay,
so the analytics never change. A `purged` event records when.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from handoff.models import Conversation, Handoff, HandoffEvent
from handoff.services.events import handoff_event

log = logging.getLogger(__name__)

PURGED_EVENT = "purged"
BATCH_SIZE = 500
# Event detail keys that may carry what a customer or an agent wrote.
CONTENT_KEYS = frozenset(
    {"message", "text", "agent_message", "note", "wrap_up", "value", "values", "transcript"}
)


def expired_handoffs(*, now: datetime, days: int):
    cutoff = now - timedelta(days=days)
    purged = HandoffEvent.objects.filter(handoff=OuterRef("pk"), type=PURGED_EVENT)
    return (
        Handoff.objects.filter(status__in=Handoff.TERMINAL)
        .filter(Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, updated_at__lt=cutoff))
        .exclude(Exists(purged))
    )


def handoffs_purge_expired(*, now: datetime | None = None, days: int | None = None) -> int:
    """Purge the content of every expired handoff; returns how many were purged."""
    now = now or timezone.now()
    days = settings.HANDOFF_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    total = 0
    while True:
        ids = list(expired_handoffs(now=now, days=days).values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            break
        _purge_batch(ids=ids, now=now, days=days)
        total += len(ids)
    if total:
        log.info("retention: purged the content of %d handoffs older than %d days", total, days)
    return total


def _purge_batch(*, ids: list, now: datetime, days: int) -> None:
    with transaction.atomic():
        Handoff.objects.filter(pk__in=ids).update(
            transcript=[],
            context={},
            variables={},
            customer={},
            agent_message="",
            wrap_up="",
            message=None,
            decision={},
            last_error="",
        )
        Conversation.objects.filter(handoff_id__in=ids).update(state={})
        for event in HandoffEvent.objects.filter(handoff_id__in=ids).only("id", "detail"):
            if isinstance(event.detail, dict) and CONTENT_KEYS & event.detail.keys():
                event.detail = {k: v for k, v in event.detail.items() if k not in CONTENT_KEYS}
                event.save(update_fields=["detail"])
        for handoff in Handoff.objects.filter(pk__in=ids).only("pk"):
            handoff_event(handoff, PURGED_EVENT, {"retention_days": days}, at=now)
