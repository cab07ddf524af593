"""Delivering one handoff the way its queue wants (agents push, pick, or a webhook)."""

import uuid

from handoff.engine.vocabulary import DeliveryKind, Distribution, HandoffStatus
from handoff.models import Handoff
from handoff.services.assignment import queue_fill
from handoff.services.live import live_handoff_waiting
from handoff.services.webhooks import handoff_webhook_attempt


def handoff_deliver(*, handoff_id: uuid.UUID | str) -> str:
    """Deliver one handoff the way its queue wants; safe to run any number of times.

    Returns what was done ("webhook:<outcome>", "offered", "waiting", "pick", "skipped").
    """
    # Webhooks are the busy path: the attempt's claim checks the status and the queue's kind
    # itself, so a webhook handoff costs no look-up first.
    outcome = handoff_webhook_attempt(handoff_id=handoff_id)
    if outcome != "skipped":
        return "webhook:" + outcome
    row = (
        Handoff.objects.filter(pk=handoff_id)
        .values_list("status", "queue_id", "queue__delivery_kind", "queue__distribution")
        .first()
    )
    if row is None or row[0] != HandoffStatus.QUEUED or row[1] is None:
        return "skipped"
    _status, queue_id, kind, distribution = row
    if kind == DeliveryKind.WEBHOOK:
        return "webhook:skipped"  # another attempt holds the lease, or the retry is not due
    live_handoff_waiting(handoff_id=handoff_id, queue_id=queue_id)
    if distribution == Distribution.PICK:
        return "pick"
    # Push: offer the queue's waiting work in order (this handoff may not be the first).
    queue_fill(queue_id=queue_id)
    offered = Handoff.objects.filter(pk=handoff_id, status=HandoffStatus.OFFERED).exists()
    return "offered" if offered else "waiting"
