"""Delivering one handoff the way its queue wants (agents push, pick, or a webhook)."""

import uuid

from handoff.engine.vocabulary import DeliveryKind, Distribution, HandoffStatus
from handoff.models import Handoff
from handoff.services.assignment import queue_fill
from handoff.services.webhooks import handoff_webhook_attempt


def handoff_deliver(*, handoff_id: uuid.UUID | str) -> str:
    """Deliver one handoff the way its queue wants; safe to run any number of times.

    Returns what was done ("webhook:<outcome>", "offered", "waiting", "pick", "skipped").
    """
    handoff = Handoff.objects.select_related("queue").filter(pk=handoff_id).first()
    if handoff is None or handoff.status != HandoffStatus.QUEUED or handoff.queue is None:
        return "skipped"
    queue = handoff.queue
    if queue.delivery_kind == DeliveryKind.WEBHOOK:
        return "webhook:" + handoff_webhook_attempt(handoff_id=handoff.pk)
    if queue.distribution == Distribution.PICK:
        return "pick"
    # Push: offer the queue's waiting work in order (this handoff may not be the first).
    queue_fill(queue_id=queue.pk)
    handoff.refresh_from_db(fields=["status"])
    return "offered" if handoff.status == HandoffStatus.OFFERED else "waiting"
