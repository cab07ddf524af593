"""Celery tasks: thin. Each takes ids, calls a service, and is safe to run twice.

task_acks_late and task_reject_on_worker_lost (settings) put a message back when its worker
dies; the sweep catches whatever the broker lost anyway (it reads the database).
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from handoff.delivery import http as delivery
from handoff.delivery.http import Outcome
from handoff.delivery.publish import publish_delivery
from handoff.models import IdempotencyKey, Queue
from handoff.services import assignment, webhooks
from handoff.services.dispatch import handoff_deliver

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HOURS = 24


@shared_task(name="handoff.tasks.deliver")
def deliver(handoff_id: str) -> str:
    return handoff_deliver(handoff_id=handoff_id)


@shared_task(name="handoff.tasks.expire_offer")
def expire_offer(offer_id: int) -> bool:
    return assignment.offer_expire(offer_id=offer_id)


@shared_task(name="handoff.tasks.fill_queue")
def fill_queue(queue_id: int) -> int:
    return assignment.queue_fill(queue_id=queue_id)


@shared_task(name="handoff.tasks.send_status_callback", bind=True, max_retries=None)
def send_status_callback(self: Any, handoff_id: str, state: str) -> str:
    attempt = self.request.retries + 1
    result = webhooks.status_callback_send(handoff_id=handoff_id, state=state, attempt=attempt)
    if result.outcome == Outcome.RETRY:
        delay = delivery.retry_delay(attempt)
        if delay is not None:
            raise self.retry(countdown=delay)
    return str(result.outcome)


def sweep_run(*, now: datetime | None = None) -> dict[str, int]:
    """One pass of the sweep; `now` lets tests look into the future."""
    now = now or timezone.now()
    done = {
        "offers_expired": 0,
        "republished": 0,
        "offered": 0,
        "overflowed": 0,
        "skills_relaxed": 0,
    }
    for offer_id in assignment.stale_offer_ids(now=now):
        done["offers_expired"] += assignment.offer_expire(offer_id=offer_id, now=now)
    for handoff_id in webhooks.webhook_handoffs_due(now=now).values_list("pk", flat=True)[:1000]:
        done["republished"] += publish_delivery(handoff_id)

    for queue_id in Queue.objects.filter(max_wait_seconds__isnull=False).values_list(
        "pk", flat=True
    ):
        done["overflowed"] += assignment.queue_apply_max_wait(queue_id=queue_id, now=now)
    # Skills relaxation is judged by the clock, not by events: record the steps reached and
    # retry every push queue with free capacity (a relaxed handoff may now fit an agent).
    for queue_id in assignment.relaxing_queue_ids():
        done["skills_relaxed"] += assignment.queue_relax_skills(queue_id=queue_id, now=now)
    for queue_id in assignment.push_queues_with_waiting_work():
        done["offered"] += assignment.queue_fill(queue_id=queue_id, now=now)
    if any(done.values()):
        log.info("sweep: %s", done)
    return done


@shared_task(name="handoff.tasks.sweep")
def sweep() -> dict[str, int]:
    return sweep_run()


@shared_task(name="handoff.tasks.expire_idempotency_keys")
def expire_idempotency_keys() -> int:
    cutoff = timezone.now() - timedelta(hours=IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(name="handoff.tasks.purge_expired")
def purge_expired() -> int:
    # Data retention (handoff/services/retention.py): HANDOFF_RETENTION_DAYS, 0 disables.
    from handoff.services.retention import handoffs_purge_expired

    return handoffs_purge_expired()
